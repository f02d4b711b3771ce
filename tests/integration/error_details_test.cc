// Every gRPC error carries a google.rpc.Status with a google.rpc.ErrorInfo
// (grpc-status-details-bin). Rejections, the slow watcher, drain and upload
// timeouts are checked where those errors are provoked (share_test,
// watch_test, ops_test, tls_test); here the errors named by their code.
#include "tests/integration/harness.h"
#include "tests/support/files.h"

namespace docshare::testing {
namespace {

using ErrorDetails = ServerTest;

TEST_F(ErrorDetails, ErrorsWithoutAReasonOfTheirOwnAreNamedByTheirCode) {
  v1::StartSessionResponse s = StartSession("details");
  std::vector<v1::SessionEvent> events;
  const struct {
    grpc::Status status;
    grpc::StatusCode code;
    const char* reason;
  } cases[] = {
      {WatchAll("", "details", 0, &events), grpc::StatusCode::UNAUTHENTICATED,
       "UNAUTHENTICATED"},
      {WatchAll(StartSession("other").agent_token(), "details", 0, &events),
       grpc::StatusCode::PERMISSION_DENIED, "PERMISSION_DENIED"},
      {WatchAll(kAdminToken, "nobody", 0, &events), grpc::StatusCode::NOT_FOUND,
       "NOT_FOUND"},
      {WatchAll(kAdminToken, "details", 5, &events), grpc::StatusCode::OUT_OF_RANGE,
       "OUT_OF_RANGE"},
      {TryStartSession(
           kAdminToken,
           [] {
             v1::StartSessionRequest req;
             req.set_session_id("details");
             req.set_ttl_seconds(60);  // other settings than the running session
             return req;
           }(),
           nullptr),
       grpc::StatusCode::ALREADY_EXISTS, "ALREADY_EXISTS"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.reason);
    EXPECT_EQ(c.status.error_code(), c.code) << c.status.error_message();
    const google::rpc::ErrorInfo info = ErrorInfoOf(c.status);
    EXPECT_EQ(info.reason(), c.reason);
    EXPECT_TRUE(info.metadata().empty());
  }

  ASSERT_TRUE(EndSession(kAdminToken, "details").ok());
  grpc::Status watch = WatchAll(kAdminToken, "details", 0, &events);
  EXPECT_EQ(watch.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ErrorInfoOf(watch).reason(), "FAILED_PRECONDITION");
  ShareResult share =
      Share(s.agent_token(), "details", ReadFile(CorpusPath("sharp/320x240.jpg")));
  EXPECT_EQ(share.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ErrorInfoOf(share.status).reason(), "FAILED_PRECONDITION");
}

}  // namespace
}  // namespace docshare::testing
