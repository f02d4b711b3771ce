// The metrics HTTP server over a real socket: /metrics (and promtool's
// verdict on it), /healthz, /readyz transitions, and what it refuses.
#include "service/metrics/http_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "service/metrics/metrics.h"
#include "service/metrics/process_collector.h"
#include "tests/metrics/scrape.h"

namespace docshare::testing {
namespace {

using ::testing::HasSubstr;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = MetricsHttpServer::Start(
        {.address = "127.0.0.1:0",
         .collectables = {registry_, std::make_shared<ProcessCollector>()},
         .ready = [this] { return ready_.load(); }});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
  }
  HttpResponse Get(const std::string& path) { return HttpGet(server_->port(), path); }

  std::shared_ptr<prometheus::Registry> registry_ =
      std::make_shared<prometheus::Registry>();
  Metrics metrics_{*registry_};
  std::atomic<bool> ready_{false};
  std::unique_ptr<MetricsHttpServer> server_;
};

TEST_F(HttpServerTest, MetricsServesEveryCollectableAsText) {
  metrics_.ShareDone(FileType::kGif, RejectReason::kTooManyFrames, false,
                     absl::Seconds(1));
  const HttpResponse r = Get("/metrics");
  ASSERT_EQ(r.status, 200) << r.headers;
  EXPECT_THAT(r.headers, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(r.body, HasSubstr("# HELP docshare_shares_total "));
  EXPECT_THAT(r.body, HasSubstr("# TYPE docshare_shares_total counter"));
  EXPECT_THAT(r.body, HasSubstr("docshare_rejects_total{reason=\"too_many_frames\"} 1"));
  EXPECT_THAT(r.body,
              HasSubstr("docshare_shares_total{result=\"rejected\",type=\"gif\"} 1"));
  EXPECT_THAT(r.body, HasSubstr("# TYPE process_resident_memory_bytes gauge"));
  EXPECT_THAT(r.body, HasSubstr("process_start_time_seconds "));
}

TEST_F(HttpServerTest, PromtoolAcceptsTheExposition) {
  if (access(kPromtool, X_OK) != 0) GTEST_SKIP() << kPromtool << " is not installed";
  metrics_.ShareDone(FileType::kJpeg, RejectReason::kNone, true, absl::Milliseconds(40));
  metrics_.StageDone("render", absl::Milliseconds(30));
  metrics_.EventDelivered(absl::Milliseconds(1));
  const HttpResponse r = Get("/metrics");
  ASSERT_EQ(r.status, 200);
  auto [status, output] = PromtoolCheckMetrics(r.body);
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "") << "lint findings";
}

TEST_F(HttpServerTest, HealthzIsOkWhateverReadinessSays) {
  for (bool ready : {false, true}) {
    ready_ = ready;
    const HttpResponse r = Get("/healthz");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "ok\n");
  }
}

TEST_F(HttpServerTest, ReadyzFollowsTheReadyFunction) {
  EXPECT_EQ(Get("/readyz").status, 503);
  ready_ = true;
  EXPECT_EQ(Get("/readyz").status, 200);
  EXPECT_EQ(Get("/readyz").body, "ready\n");
  ready_ = false;  // draining
  const HttpResponse r = Get("/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not ready\n");
}

TEST_F(HttpServerTest, HeadAnswersWithoutABody) {
  const HttpResponse r = HttpRequest(server_->port(), "HEAD", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.headers, HasSubstr("Content-Length: 3"));
  EXPECT_EQ(r.body, "");
}

TEST_F(HttpServerTest, OtherPathsAndMethodsAreRefused) {
  EXPECT_EQ(Get("/").status, 404);
  EXPECT_EQ(Get("/metricsx").status, 404);
  EXPECT_EQ(Get("/healthz/x").status, 404);
  EXPECT_EQ(HttpRequest(server_->port(), "POST", "/readyz").status, 405);
  EXPECT_EQ(HttpRequest(server_->port(), "DELETE", "/metrics").status, 405);
}

TEST_F(HttpServerTest, ServesManyScrapesInARow) {
  for (int i = 0; i < 50; ++i) ASSERT_EQ(Get("/metrics").status, 200) << i;
}

TEST(HttpServerStart, NoReadyFunctionMeansNotReady) {
  auto server = MetricsHttpServer::Start({.address = "127.0.0.1:0"});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(HttpGet((*server)->port(), "/readyz").status, 503);
  EXPECT_EQ(HttpGet((*server)->port(), "/healthz").status, 200);
  EXPECT_EQ(HttpGet((*server)->port(), "/metrics").body, "");
}

TEST(HttpServerStart, ATakenPortIsAnErrorNamingTheAddress) {
  auto first = MetricsHttpServer::Start({.address = "127.0.0.1:0"});
  ASSERT_TRUE(first.ok());
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = MetricsHttpServer::Start({.address = taken});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(taken));
}

TEST(HttpServerStart, StopsAndReleasesThePort) {
  int port = 0;
  {
    auto server = MetricsHttpServer::Start({.address = "127.0.0.1:0"});
    ASSERT_TRUE(server.ok());
    port = (*server)->port();
    EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
  }
  EXPECT_EQ(HttpGet(port, "/healthz").status, 0) << "nothing listens any more";
  auto again = MetricsHttpServer::Start({.address = "127.0.0.1:" + std::to_string(port)});
  EXPECT_TRUE(again.ok()) << again.status();
}

}  // namespace
}  // namespace docshare::testing
