// Server reflection over real gRPC: grpc.reflection.v1 (ours) and gRPC's own
// v1alpha answer the same questions alike.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "tests/integration/harness.h"

namespace docshare::testing {
namespace {

namespace reflection = grpc::reflection::v1;

constexpr char kV1[] = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
// The same messages on the wire: v1's types can ask v1alpha.
constexpr char kV1alpha[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

class Reflection : public ServerTest {
 protected:
  // One stream: each request written, its answer read; then the status.
  grpc::Status Ask(const char* method,
                   const std::vector<reflection::ServerReflectionRequest>& requests,
                   std::vector<reflection::ServerReflectionResponse>* answers) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    const grpc::internal::RpcMethod rpc(method,
                                        grpc::internal::RpcMethod::BIDI_STREAMING);
    std::unique_ptr<grpc::ClientReaderWriter<reflection::ServerReflectionRequest,
                                             reflection::ServerReflectionResponse>>
        stream(grpc::internal::ClientReaderWriterFactory<
               reflection::ServerReflectionRequest,
               reflection::ServerReflectionResponse>::Create(channel_.get(), rpc, &ctx));
    for (const auto& request : requests) {
      if (!stream->Write(request)) break;
      reflection::ServerReflectionResponse answer;
      if (!stream->Read(&answer)) break;
      answers->push_back(std::move(answer));
    }
    stream->WritesDone();
    return stream->Finish();
  }

  static reflection::ServerReflectionRequest Symbol(const std::string& name) {
    reflection::ServerReflectionRequest r;
    r.set_file_containing_symbol(name);
    return r;
  }
};

TEST_F(Reflection, V1ListsTheServicesAndDescribesThem) {
  reflection::ServerReflectionRequest list;
  list.set_list_services("");
  reflection::ServerReflectionRequest missing;
  missing.set_file_by_filename("no/such.proto");
  std::vector<reflection::ServerReflectionResponse> answers;
  grpc::Status s = Ask(kV1,
                       {list, Symbol("docshare.v1.DocumentService.ShareDocument"),
                        missing, Symbol("docshare.v1.NoSuchThing")},
                       &answers);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(answers.size(), 4u);

  std::vector<std::string> services;
  for (const auto& service : answers[0].list_services_response().service()) {
    services.push_back(service.name());
  }
  EXPECT_THAT(services, ::testing::IsSupersetOf(
                            {"docshare.v1.SessionService", "docshare.v1.DocumentService",
                             "grpc.reflection.v1.ServerReflection",
                             "grpc.reflection.v1alpha.ServerReflection"}));

  const auto& files = answers[1].file_descriptor_response().file_descriptor_proto();
  ASSERT_GE(files.size(), 1);
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(files[0]));
  EXPECT_EQ(file.name(), "docshare/v1/docshare.proto");
  EXPECT_EQ(file.package(), "docshare.v1");
  bool has_session_service = false;
  for (const auto& service : file.service()) {
    has_session_service |= service.name() == "SessionService";
  }
  EXPECT_TRUE(has_session_service);
  EXPECT_EQ(answers[1].original_request().file_containing_symbol(),
            "docshare.v1.DocumentService.ShareDocument");

  EXPECT_EQ(answers[2].error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(answers[3].error_response().error_code(), grpc::StatusCode::NOT_FOUND);
}

// One question a stream: gRPC 1.51's v1alpha reuses its response message
// within a stream, so a second answer there carries the first one's files too.
TEST_F(Reflection, V1AndV1alphaGiveTheSameFiles) {
  for (const char* symbol : {"docshare.v1.SessionService", "docshare.v1.Document"}) {
    std::vector<reflection::ServerReflectionResponse> v1, v1alpha;
    ASSERT_TRUE(Ask(kV1, {Symbol(symbol)}, &v1).ok());
    ASSERT_TRUE(Ask(kV1alpha, {Symbol(symbol)}, &v1alpha).ok());
    ASSERT_EQ(v1.size(), 1u);
    ASSERT_EQ(v1alpha.size(), 1u);
    const auto& mine = v1[0].file_descriptor_response().file_descriptor_proto();
    const auto& theirs = v1alpha[0].file_descriptor_response().file_descriptor_proto();
    ASSERT_FALSE(mine.empty()) << symbol;
    EXPECT_EQ(std::vector<std::string>(mine.begin(), mine.end()),
              std::vector<std::string>(theirs.begin(), theirs.end()))
        << symbol;
  }
}

}  // namespace
}  // namespace docshare::testing
