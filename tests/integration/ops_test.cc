// Operations over real gRPC: graceful drain, health, JSON logs.
#include <cstdio>
#include <fstream>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/harness.h"
#include "tests/support/files.h"
#include "tests/support/hostile.h"

namespace docshare::testing {
namespace {

using Ops = ServerTest;

// Waits (bounded) until `done` holds; yields instead of sleeping a fixed time.
template <typename F>
bool Eventually(F done) {
  for (int i = 0; i < 200000 && !done(); ++i) std::this_thread::yield();
  return done();
}

TEST_F(Ops, DrainFinishesSharesInFlightAndRefusesNewWork) {
  v1::StartSessionResponse s = StartSession("drain");
  const std::string photo = ReadFile(CorpusPath("sharp/320x240.jpg"));

  // A watcher and a share that has begun but not finished.
  grpc::ClientContext watch_ctx;
  watch_ctx.AddMetadata("authorization", "Bearer " + s.consumer_token());
  v1::WatchSessionRequest req;
  req.set_session_id("drain");
  auto watcher = sessions_->WatchSession(&watch_ctx, req);

  grpc::ClientContext share_ctx;
  share_ctx.AddMetadata("authorization", "Bearer " + s.agent_token());
  v1::ShareDocumentResponse share_resp;
  auto upload = documents_->ShareDocument(&share_ctx, &share_resp);
  v1::ShareDocumentRequest msg;
  msg.mutable_header()->set_session_id("drain");
  msg.mutable_header()->set_filename("in-flight.jpg");
  msg.mutable_header()->set_size_bytes(photo.size());
  ASSERT_TRUE(upload->Write(msg));
  msg.set_chunk(photo.substr(0, 5000));
  ASSERT_TRUE(upload->Write(msg));

  ASSERT_TRUE(app_->ready());
  // Written is not yet received: drain only once the server holds the share,
  // or it would (rightly) refuse it as new work.
  ASSERT_TRUE(Eventually([&] { return app_->shares_in_flight() == 1; }));
  std::jthread drain([&] { app_->Drain(absl::Seconds(20)); });  // joined on any exit
  ASSERT_TRUE(Eventually([&] { return !app_->ready(); }));

  // The watcher is told to go elsewhere.
  v1::SessionEvent event;
  EXPECT_FALSE(watcher->Read(&event));
  grpc::Status watch_status = watcher->Finish();
  EXPECT_EQ(watch_status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << watch_status.error_message();
  const google::rpc::ErrorInfo watch_info = ErrorInfoOf(watch_status);
  EXPECT_EQ(watch_info.reason(), "SERVER_DRAINING");
  EXPECT_EQ(watch_info.metadata().count("resume_after"), 1u);

  // New work is refused.
  ShareResult refused = Share(s.agent_token(), "drain", photo);
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ErrorInfoOf(refused.status).reason(), "SERVER_DRAINING");

  // The share in flight completes.
  msg.set_chunk(photo.substr(5000));
  ASSERT_TRUE(upload->Write(msg));
  upload->WritesDone();
  grpc::Status share_status = upload->Finish();
  EXPECT_TRUE(share_status.ok()) << share_status.error_message();
  EXPECT_EQ(share_resp.document().filename(), "in-flight.jpg");
  drain.join();
}

TEST_F(Ops, HealthServiceServesEveryServiceUntilDrained) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  auto check = [&](const std::string& service) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status s = health->Check(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.status();
  };
  for (const char* service :
       {"", "docshare.v1.SessionService", "docshare.v1.DocumentService"}) {
    EXPECT_EQ(check(service), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckRequest req;
  req.set_service("no.such.Service");
  grpc::health::v1::HealthCheckResponse resp;
  EXPECT_EQ(health->Check(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(Ops, LogsAreJsonLinesWithoutTokens) {
  v1::StartSessionResponse s = StartSession("logged");
  ASSERT_TRUE(Share(s.agent_token(), "logged", SmallJpeg()).status.ok());
  ShareResult rejected = Share(s.agent_token(), "logged", "%PDF-1.4 not an image");
  ASSERT_EQ(rejected.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_EQ(ReadEvents(s.consumer_token(), "logged", 0, 1).size(), 1u);
  ASSERT_TRUE(EndSession(kAdminToken, "logged").ok());
  const std::string logs = log_stream_.str();

  for (const std::string& secret : {s.agent_token(), s.consumer_token(),
                                    std::string(kAdminToken), config_.token_secret}) {
    EXPECT_EQ(logs.find(secret), std::string::npos) << "a secret reached the log";
  }
  for (const char* event :
       {"\"event\":\"session_started\"", "\"event\":\"share\"",
        "\"outcome\":\"accepted\"", "\"outcome\":\"rejected\"",
        "\"reason\":\"unsupported_type\"", "\"event\":\"watcher_connected\"",
        "\"event\":\"session_ended\""}) {
    EXPECT_NE(logs.find(event), std::string::npos) << event << " missing in\n" << logs;
  }
  // Every line parses as a JSON object (Python's json module is the judge).
  const std::string path = ::testing::TempDir() + "/docshare-log.jsonl";
  std::ofstream(path) << logs;
  const std::string cmd =
      "/usr/bin/python3 -c 'import json,sys\n"
      "n=0\n"
      "for l in open(sys.argv[1]):\n"
      "  assert isinstance(json.loads(l), dict); n+=1\n"
      "assert n>=5, n' " +
      path;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << logs;
}

// A large unsupported file is judged on its first chunk: the share's log line
// counts the bytes that came off the wire (that one chunk), not the bytes
// held (none: the chunk was refused before it was kept).
TEST_F(Ops, ARefusedShareLogsTheBytesItRead) {
  v1::StartSessionResponse s = StartSession("pdf-log");
  std::string pdf = "%PDF-1.4\n";
  pdf.resize(3 * 64 * 1024, 'x');
  ShareResult rejected = Share(s.agent_token(), "pdf-log", pdf);
  ASSERT_EQ(rejected.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const std::string logs = log_stream_.str();
  const size_t at = logs.find("\"reason\":\"unsupported_type\"");
  ASSERT_NE(at, std::string::npos) << logs;
  const size_t line = logs.rfind('\n', at) + 1;
  const std::string share_line = logs.substr(line, logs.find('\n', at) - line);
  EXPECT_NE(share_line.find("\"bytes\":65536,"), std::string::npos) << share_line;
}

}  // namespace
}  // namespace docshare::testing
