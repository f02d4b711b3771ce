// Issue 12, attack 2: slowloris on the metrics port failed the liveness
// probe 4 times in a row (the kubelet would restart the pod and lose every
// in-memory session). The chart now probes gRPC health ("liveness", and ""
// for readiness); both, and /healthz, answer while 64 slow connections are
// held on the metrics port, and liveness stays SERVING while draining.
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "service/metrics/http_server.h"
#include "tests/integration/harness.h"
#include "tests/metrics/scrape.h"

namespace docshare::testing {
namespace {

using grpc::health::v1::HealthCheckResponse;

class AttackLiveness : public ServerTest {
 protected:
  HealthCheckResponse::ServingStatus Health(const std::string& service) {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    HealthCheckResponse resp;
    grpc::Status s = health->Check(&ctx, req, &resp);
    if (!s.ok()) return HealthCheckResponse::UNKNOWN;
    return resp.status();
  }
};

TEST_F(AttackLiveness, HealthAnswersWhileSixtyFourSlowConnectionsHoldTheMetricsPort) {
  auto http = MetricsHttpServer::Start(
      {.address = "127.0.0.1:0", .ready = [this] { return app_->ready(); }});
  ASSERT_TRUE(http.ok()) << http.status();
  std::vector<int> slow;
  for (int i = 0; i < 64; ++i) {
    const int fd = ConnectTo("127.0.0.1", (*http)->port());
    ASSERT_GE(fd, 0) << i;
    const std::string partial = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
    send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
    slow.push_back(fd);
  }
  // Four probe periods' worth of each probe: every one answers.
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Health("liveness"), HealthCheckResponse::SERVING) << i;
    EXPECT_EQ(Health(""), HealthCheckResponse::SERVING) << i;
    EXPECT_EQ(HttpGet((*http)->port(), "/healthz").status, 200) << i;
    EXPECT_EQ(HttpGet((*http)->port(), "/readyz").status, 200) << i;
  }
  for (int fd : slow) close(fd);
}

TEST_F(AttackLiveness, LivenessStaysServingWhileReadinessDrains) {
  // An upload in flight keeps the drain waiting.
  v1::StartSessionResponse s = StartSession("draining");
  auto upload = BeginUpload(s.agent_token(), "draining", 0);
  ASSERT_TRUE(upload->open);
  // The header has reached the server once the share counts as begun.
  for (int i = 0; i < 1000 && app_->shares_in_flight() == 0; ++i) {
    std::this_thread::yield();
    Health("liveness");  // a round trip: waits on the server, not on a timer
  }
  ASSERT_EQ(app_->shares_in_flight(), 1);

  std::thread drain([this] { app_->Drain(absl::Seconds(30)); });
  HealthCheckResponse::ServingStatus readiness = HealthCheckResponse::SERVING;
  for (int i = 0; i < 1000 && readiness == HealthCheckResponse::SERVING; ++i) {
    readiness = Health("");
  }
  EXPECT_EQ(readiness, HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Health("docshare.v1.DocumentService"), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Health("liveness"), HealthCheckResponse::SERVING)
      << "a draining pod must not be restarted";
  upload->Cancel();
  drain.join();
}

}  // namespace
}  // namespace docshare::testing
