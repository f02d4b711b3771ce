// The metrics HTTP server over a real socket: /metrics (and promtool's
// verdict on it), /healthz, /readyz transitions, and what it refuses.
#include "service/metrics/http_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>

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

// Counts the reasons the server gives for the connections it drops.
class Drops {
 public:
  std::function<void(std::string_view)> Hook() {
    return [this](std::string_view reason) {
      std::lock_guard lock(mu_);
      ++counts_[std::string(reason)];
    };
  }
  int Count(const std::string& reason) {
    std::lock_guard lock(mu_);
    return counts_[reason];
  }

 private:
  std::mutex mu_;
  std::map<std::string, int> counts_;
};

// A connection that sent the start of a request and nothing more (slowloris).
int SlowConnection(int port, const std::string& host = "127.0.0.1") {
  const int fd = ConnectTo(host, port);
  if (fd < 0) return -1;
  const std::string partial = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
  return fd;
}

// True while the server has neither answered nor closed `fd`.
bool StillOpen(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 0;
}

// True once the server closed `fd` (recv sees the end), waiting up to 30 s.
bool ClosedByServer(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 30'000) != 1) return false;
  char buf[512];
  return recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0;
}

// Attack 2 of issue 12: 32 slow connections held civetweb's 4 threads and
// the liveness probe failed. 64 held here; health keeps answering at once.
TEST(HttpServerAttack, SixtyFourSlowConnectionsDoNotStarveHealth) {
  Drops drops;
  auto server = MetricsHttpServer::Start({.address = "127.0.0.1:0",
                                          .request_timeout = absl::Seconds(120),
                                          .dropped = drops.Hook()});
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  std::vector<int> slow;
  for (int i = 0; i < 64; ++i) {
    slow.push_back(SlowConnection(port));
    ASSERT_GE(slow.back(), 0) << i;
  }
  for (int i = 0; i < 20; ++i) {
    const HttpResponse r = HttpGet(port, "/healthz");
    ASSERT_EQ(r.status, 200) << "probe " << i << " with 64 slow connections open";
  }
  EXPECT_EQ(HttpGet(port, "/metrics").status, 200);
  for (int fd : slow) {
    EXPECT_TRUE(StillOpen(fd)) << "the slow connections were held all along";
    close(fd);
  }
  EXPECT_EQ(drops.Count("timeout") + drops.Count("evicted"), 0);
}

TEST(HttpServerAttack, ASlowConnectionIsClosedAfterTheRequestTimeout) {
  Drops drops;
  auto server = MetricsHttpServer::Start({.address = "127.0.0.1:0",
                                          .request_timeout = absl::Milliseconds(200),
                                          .dropped = drops.Hook()});
  ASSERT_TRUE(server.ok()) << server.status();
  const int fd = SlowConnection((*server)->port());
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(ClosedByServer(fd));
  close(fd);
  EXPECT_EQ(drops.Count("timeout"), 1);
  EXPECT_EQ(HttpGet((*server)->port(), "/healthz").status, 200);
}

TEST(HttpServerAttack, BeyondMaxConnectionsTheOldestIsEvicted) {
  Drops drops;
  auto server = MetricsHttpServer::Start({.address = "127.0.0.1:0",
                                          .request_timeout = absl::Seconds(120),
                                          .max_connections = 4,
                                          .dropped = drops.Hook()});
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  std::vector<int> slow;
  for (int i = 0; i < 4; ++i) slow.push_back(SlowConnection(port));
  // The probe is the fifth connection: the oldest slow one makes room.
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
  EXPECT_TRUE(ClosedByServer(slow[0]));
  EXPECT_GE(drops.Count("evicted"), 1);
  for (int fd : slow) close(fd);
}

TEST(HttpServerAttack, AnOversizedRequestHeadIsRefused) {
  Drops drops;
  auto server =
      MetricsHttpServer::Start({.address = "127.0.0.1:0", .dropped = drops.Hook()});
  ASSERT_TRUE(server.ok()) << server.status();
  const int fd = ConnectTo("127.0.0.1", (*server)->port());
  ASSERT_GE(fd, 0);
  const std::string head = "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(9000, 'a');
  ASSERT_EQ(send(fd, head.data(), head.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(head.size()));
  std::string raw;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) raw.append(buf, n);
  close(fd);
  EXPECT_THAT(raw, ::testing::StartsWith("HTTP/1.1 431 "));
  EXPECT_EQ(drops.Count("too_large"), 1);
}

TEST(HttpServerAttack, TheDropReasonsAreCountedInTheMetrics) {
  auto registry = std::make_shared<prometheus::Registry>();
  Metrics metrics(*registry);
  EXPECT_EQ(Value(*registry, "docshare_metrics_connections_dropped_total",
                  {{"reason", "timeout"}}),
            0.0);
  metrics.MetricsConnectionDropped("timeout");
  metrics.MetricsConnectionDropped("evicted");
  EXPECT_EQ(Value(*registry, "docshare_metrics_connections_dropped_total",
                  {{"reason", "timeout"}}),
            1.0);
  EXPECT_EQ(Value(*registry, "docshare_metrics_connections_dropped_total",
                  {{"reason", "evicted"}}),
            1.0);
}

// Issue 16: the metrics listener on IPv6.
bool HasIpv6Loopback() {
  const int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

TEST(HttpServerIpv6, LoopbackSixIsServedAndIsIpv6Only) {
  if (!HasIpv6Loopback()) GTEST_SKIP() << "this machine has no IPv6 loopback (::1)";
  auto server = MetricsHttpServer::Start({.address = "[::1]:0"});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE((*server)->ipv6());
  EXPECT_EQ(HttpRequest((*server)->port(), "GET", "/healthz", "::1").status, 200);
  EXPECT_EQ(HttpRequest((*server)->port(), "GET", "/healthz", "127.0.0.1").status, 0);
}

TEST(HttpServerIpv6, TheWildcardIsDualStack) {
  if (!HasIpv6Loopback()) GTEST_SKIP() << "this machine has no IPv6 loopback (::1)";
  auto server = MetricsHttpServer::Start({.address = "[::]:0"});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE((*server)->ipv6());
  EXPECT_EQ(HttpRequest((*server)->port(), "GET", "/healthz", "::1").status, 200);
  EXPECT_EQ(HttpRequest((*server)->port(), "GET", "/healthz", "127.0.0.1").status, 200);
  EXPECT_EQ(HttpRequest((*server)->port(), "GET", "/metrics", "::1").status, 200);
}

TEST(HttpServerStart, AnAddressWithoutAPortIsRefused) {
  auto server = MetricsHttpServer::Start({.address = "127.0.0.1"});
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("--metrics-address"));
}

}  // namespace
}  // namespace docshare::testing
