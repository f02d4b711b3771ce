// Issue 12, attack 1: HTTP/2 floods with no token against gRPC 1.51, which
// bounds neither itself. Plaintext gRPC is accepted by the HTTP/2 frame guard
// (transport/h2_guard.h), which closes a flooding connection before gRPC
// parses the flood. Each flood is reproduced (3 connections, bounded:
// seconds, loopback) and the safe answer asserted: the server closes every
// flooding connection, stays up, a second session's share and health keep
// answering, and the process' memory barely moves (the in-process server and
// this test share one process, so RSS here is the server's plus a small
// client). README "HTTP/2 floods" has the figures.
#include <map>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/support/files.h"
#include "tests/support/h2_flood.h"

namespace docshare::testing {
namespace {

// Unguarded, 3 connections of 2.5 s took +50 to +150 MB here (past 1 GB under
// ctest) and gRPC 1.51's ResourceQuota did not bound it; guarded, a flood
// ends after a header block of 64 KiB or 200 resets.
constexpr uint64_t kMaxGrowth = uint64_t{64} << 20;

// The guard's closures as the App reports them, by limit.
class Http2Closures final : public Observer {
 public:
  void Http2ConnectionClosed(std::string_view limit) override {
    absl::MutexLock lock(&mu_);
    ++closed_[std::string(limit)];
  }
  int Count(const std::string& limit) {
    absl::MutexLock lock(&mu_);
    return closed_[limit];
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, int> closed_ ABSL_GUARDED_BY(mu_);
};

class AttackHttp2 : public ServerTest {
 protected:
  Observer& AppObserver() override { return tee_; }
  Http2Closures closures_;
  ObserverTee tee_{closures_, observer_};

  void FloodAndCheck(H2Flood kind) {
    const v1::StartSessionResponse victim = StartSession("victim");
    const std::string photo = ReadFile(CorpusPath("sharp/320x240.jpg"));
    ASSERT_TRUE(Share(victim.agent_token(), "victim", photo).status.ok());
    const uint64_t before = ResidentBytes();
    std::vector<H2FloodResult> results(3);
    std::vector<std::thread> floods;
    for (int i = 0; i < 3; ++i) {
      floods.emplace_back([&, i] {
        results[i] = FloodOnce(app_->grpc_port(), kind, absl::Milliseconds(2500),
                               uint64_t{1} << 30);
      });
    }
    // During the flood: the other session shares and health answers.
    ShareResult during = Share(victim.agent_token(), "victim", photo);
    EXPECT_TRUE(during.status.ok()) << during.status.error_message();
    for (auto& t : floods) t.join();
    for (const H2FloodResult& r : results) {
      EXPECT_TRUE(r.closed_by_server)
          << "a flooding connection was left open (" << r.bytes_sent << " bytes sent)";
    }
    const uint64_t after = ResidentBytes();
    uint64_t sent = 0;
    for (const H2FloodResult& r : results) sent += r.bytes_sent;
    std::printf("flood: %.1f MB sent over 3 connections; RSS %.0f -> %.0f MB\n",
                sent / 1e6, before / 1e6, after / 1e6);
    // How much is sent before the close is seen is the sockets' buffering;
    // that every connection was closed by the server is what counts (above).
    EXPECT_LT(after, before + kMaxGrowth) << "memory grew past the quota's bound";

    // Afterwards the server answers again: health (waiting for the backlog of
    // the flood, up to a minute) and the second session's share.
    auto health = grpc::health::v1::Health::NewStub(NewChannel());
    grpc::health::v1::HealthCheckResponse resp;
    bool serving = false;
    for (int i = 0; i < 30 && !serving; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      grpc::health::v1::HealthCheckRequest req;
      serving = health->Check(&ctx, req, &resp).ok() &&
                resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    }
    EXPECT_TRUE(serving) << "health never answered after the flood";
    ShareResult after_flood = Share(victim.agent_token(), "victim", photo);
    EXPECT_TRUE(after_flood.status.ok()) << after_flood.status.error_message();
  }
};

TEST_F(AttackHttp2, ContinuationFloodIsClosedAndServiceContinues) {
  FloodAndCheck(H2Flood::kContinuation);
  EXPECT_EQ(closures_.Count("header_block"), 3);
  EXPECT_EQ(closures_.Count("resets"), 0);
}

TEST_F(AttackHttp2, RapidResetIsClosedAndServiceContinues) {
  FloodAndCheck(H2Flood::kRapidReset);
  EXPECT_EQ(closures_.Count("resets"), 3);
  EXPECT_EQ(closures_.Count("header_block"), 0);
}

// --http2-guard=false hands connections straight to gRPC (behind a proxy
// that already bounds HTTP/2, docs/http2-exposure.md): calls work on the
// port gRPC itself listens on, and the guard closes nothing. A short reset
// flood is not closed then, which is what the guard is for.
class Http2GuardOff : public AttackHttp2 {
 protected:
  void Configure(Config& config) override { config.http2_guard = false; }
};

TEST_F(Http2GuardOff, CallsReachGrpcDirectlyAndNothingIsClosed) {
  const v1::StartSessionResponse s = StartSession("unguarded");
  const std::string photo = ReadFile(CorpusPath("sharp/320x240.jpg"));
  EXPECT_TRUE(Share(s.agent_token(), "unguarded", photo).status.ok());
  const H2FloodResult r = FloodOnce(app_->grpc_port(), H2Flood::kRapidReset,
                                    absl::Milliseconds(300), 1 << 20);
  EXPECT_FALSE(r.closed_by_server) << "unguarded, gRPC 1.51 does not close a rapid reset";
  EXPECT_GT(r.bytes_sent, 0u);
  EXPECT_EQ(closures_.Count("resets"), 0);
  EXPECT_EQ(closures_.Count("header_block"), 0);
  EXPECT_TRUE(Share(s.agent_token(), "unguarded", photo).status.ok());
}

}  // namespace
}  // namespace docshare::testing
