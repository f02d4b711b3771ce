// A real Prometheus server (Debian's /usr/bin/prometheus) scrapes the metrics
// endpoint and sees the target up and our series with their values: the
// exposition is not just lint-clean but ingested. Bounded: Prometheus starts
// its first scrape about 5 s after start-up, so the whole test takes ~6 s and
// gives up after 30 s. It waits by polling Prometheus' API (an outside process
// on its own timers, so there is nothing to be notified by).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "service/metrics/http_server.h"
#include "service/metrics/metrics.h"
#include "service/metrics/process_collector.h"
#include "tests/metrics/scrape.h"

extern char** environ;

namespace docshare::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kPrometheus[] = "/usr/bin/prometheus";

// A port free a moment ago (Prometheus cannot report the one it bound).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// The child process, stopped (SIGTERM, then SIGKILL) however the test ends.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const fs::path& log) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0)
      pid_ = 0;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  bool running() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = 0;
};

// The one sample value of an instant-vector answer of /api/v1/query.
std::optional<std::string> SampleValue(const std::string& json) {
  const size_t value = json.find("\"value\":[");
  if (value == std::string::npos) return std::nullopt;
  const size_t open = json.find(",\"", value);
  const size_t close = json.find('"', open + 2);
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  return json.substr(open + 2, close - open - 2);
}

TEST(PrometheusScrape, ARealPrometheusSeesTheTargetUpAndOurSeries) {
  if (access(kPrometheus, X_OK) != 0) GTEST_SKIP() << kPrometheus << " is not installed";

  auto registry = std::make_shared<prometheus::Registry>();
  Metrics metrics(*registry);
  metrics.ShareDone(FileType::kJpeg, RejectReason::kCorruptImage, false,
                    absl::Seconds(1));
  metrics.ShareDone(FileType::kPng, RejectReason::kNone, true, absl::Milliseconds(300));
  auto server = MetricsHttpServer::Start(
      {.address = "127.0.0.1:0",
       .collectables = {registry, std::make_shared<ProcessCollector>()},
       .ready = [] { return true; }});
  ASSERT_TRUE(server.ok()) << server.status();

  const fs::path dir =
      fs::temp_directory_path() / ("docshare-prom-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "prometheus.yml")
      << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
         "scrape_configs:\n  - job_name: docshare\n    static_configs:\n"
         "      - targets: ['127.0.0.1:"
      << (*server)->port() << "']\n";
  const int web = FreePort();
  std::optional<std::string> up, rejects, shares, rss;
  {
    Child prometheus(
        {kPrometheus, "--config.file=" + (dir / "prometheus.yml").string(),
         "--storage.tsdb.path=" + (dir / "data").string(),
         "--web.listen-address=127.0.0.1:" + std::to_string(web), "--log.level=warn"},
        dir / "prometheus.log");
    auto query = [&](const std::string& q) {
      return SampleValue(HttpGet(web, "/api/v1/query?query=" + q).body);
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline && prometheus.running()) {
      up = query("up%7Bjob%3D%22docshare%22%7D");  // up{job="docshare"}
      if (up == "1") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    rejects = query("docshare_rejects_total%7Breason%3D%22corrupt_image%22%7D");
    shares =
        query("docshare_shares_total%7Bresult%3D%22accepted%22%2Ctype%3D%22png%22%7D");
    rss = query("process_resident_memory_bytes%3E0");
  }
  std::ifstream log(dir / "prometheus.log");
  const std::string log_text((std::istreambuf_iterator<char>(log)), {});
  fs::remove_all(dir);

  ASSERT_EQ(up, "1") << "target not up within 30 s; prometheus log:\n" << log_text;
  EXPECT_EQ(rejects, "1");
  EXPECT_EQ(shares, "1");
  EXPECT_TRUE(rss.has_value()) << "process_resident_memory_bytes missing or zero";
}

}  // namespace
}  // namespace docshare::testing
