#include "service/transport/reflection_v1.h"

#include <set>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"

namespace docshare {
namespace {

namespace v1 = grpc::reflection::v1;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorProto;

void Error(v1::ServerReflectionResponse& response, grpc::StatusCode code,
           const std::string& message) {
  response.mutable_error_response()->set_error_code(code);
  response.mutable_error_response()->set_error_message(message);
}

// The file and, once each, every file it depends on (as v1alpha answers).
void AddFileAndDependencies(const FileDescriptor* file, std::set<std::string>& seen,
                            v1::FileDescriptorResponse& out) {
  if (!seen.insert(file->name()).second) return;
  FileDescriptorProto proto;
  file->CopyTo(&proto);
  out.add_file_descriptor_proto(proto.SerializeAsString());
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddFileAndDependencies(file->dependency(i), seen, out);
  }
}

void AnswerFile(const FileDescriptor* file, const std::string& what,
                v1::ServerReflectionResponse& response) {
  if (file == nullptr) {
    Error(response, grpc::StatusCode::NOT_FOUND, what + " not found");
    return;
  }
  std::set<std::string> seen;
  AddFileAndDependencies(file, seen, *response.mutable_file_descriptor_response());
}

// Reads a request, writes its answer, reads the next: one write in flight.
class Reactor final : public grpc::ServerBidiReactor<v1::ServerReflectionRequest,
                                                     v1::ServerReflectionResponse> {
 public:
  explicit Reactor(const ReflectionV1Service& service) : service_(service) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client finished sending
      Finish(grpc::Status::OK);
      return;
    }
    response_ = service_.Answer(request_);
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNKNOWN, "the response could not be sent"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  const ReflectionV1Service& service_;
  v1::ServerReflectionRequest request_;
  v1::ServerReflectionResponse response_;
};

}  // namespace

grpc::ServerBidiReactor<v1::ServerReflectionRequest, v1::ServerReflectionResponse>*
ReflectionV1Service::ServerReflectionInfo(grpc::CallbackServerContext* context) {
  return new Reactor(*this);
}

v1::ServerReflectionResponse ReflectionV1Service::Answer(
    const v1::ServerReflectionRequest& request) const {
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  v1::ServerReflectionResponse response;
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  switch (request.message_request_case()) {
    case v1::ServerReflectionRequest::kFileByFilename:
      AnswerFile(pool->FindFileByName(request.file_by_filename()),
                 "file " + request.file_by_filename(), response);
      break;
    case v1::ServerReflectionRequest::kFileContainingSymbol:
      AnswerFile(pool->FindFileContainingSymbol(request.file_containing_symbol()),
                 "symbol " + request.file_containing_symbol(), response);
      break;
    case v1::ServerReflectionRequest::kFileContainingExtension: {
      const v1::ExtensionRequest& e = request.file_containing_extension();
      const auto* type = pool->FindMessageTypeByName(e.containing_type());
      const auto* extension =
          type == nullptr ? nullptr
                          : pool->FindExtensionByNumber(type, e.extension_number());
      AnswerFile(extension == nullptr ? nullptr : extension->file(),
                 "extension " + std::to_string(e.extension_number()) + " of " +
                     e.containing_type(),
                 response);
      break;
    }
    case v1::ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const std::string& name = request.all_extension_numbers_of_type();
      const auto* type = pool->FindMessageTypeByName(name);
      if (type == nullptr) {
        Error(response, grpc::StatusCode::NOT_FOUND, "type " + name + " not found");
        break;
      }
      std::vector<const google::protobuf::FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      auto* numbers = response.mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const auto* extension : extensions) {
        numbers->add_extension_number(extension->number());
      }
      break;
    }
    case v1::ServerReflectionRequest::kListServices:
      for (const std::string& name : services_) {
        response.mutable_list_services_response()->add_service()->set_name(name);
      }
      break;
    case v1::ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
      Error(response, grpc::StatusCode::INVALID_ARGUMENT, "the request asks nothing");
      break;
  }
  return response;
}

}  // namespace docshare
