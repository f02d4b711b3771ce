// Issue 12, attack 5: one participant starves every session. Six large GIFs
// from one session kept another session at RESOURCE_EXHAUSTED, then waiting
// 19 s behind one FIFO. Reproduced over real gRPC with real render worker
// processes: the hooks worker (tests/isolation/worker) holds its render for a
// JPEG whose COM segment says DOCSHARE-TEST-SLEEP, so session A's renders stay
// in flight for as long as the test needs, without timing anything.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "service/metrics/metrics.h"
#include "tests/integration/harness.h"
#include "tests/metrics/scrape.h"
#include "tests/support/files.h"

namespace docshare::testing {
namespace {

using ::testing::HasSubstr;

std::string Photo() { return ReadFile(CorpusPath("sharp/320x240.jpg")); }

// The photo with a COM segment right after SOI: still a JPEG to libmagic and
// the guard, and the hooks worker never answers for it.
std::string SleepyPhoto() {
  const std::string photo = Photo();
  const std::string marker = "DOCSHARE-TEST-SLEEP";
  const size_t length = marker.size() + 2;
  std::string com = {'\xFF', '\xFE', static_cast<char>(length >> 8),
                     static_cast<char>(length & 0xFF)};
  return photo.substr(0, 2) + com + marker + photo.substr(2);
}

// Kills this process' hooks workers (the server's children, idle ones too).
// Returns how many it killed.
int KillHeldWorkers() {
  int killed = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so read after ')'.
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid != getpid()) continue;
    std::ifstream cmdline_file(entry.path() / "cmdline");
    std::string cmdline;
    std::getline(cmdline_file, cmdline, '\0');
    if (cmdline.find("render-worker-hooks") == std::string::npos) continue;
    if (kill(std::stoi(pid), SIGKILL) == 0) ++killed;
  }
  return killed;
}

class AttackFairness : public ServerTest {
 protected:
  void Configure(Config& config) override {
    config.isolation.worker_path = DOCSHARE_RENDER_WORKER_HOOKS;
    config.isolation.workers = 3;
    config.isolation.queue = 4;
    config.isolation.timeout = absl::Minutes(5);  // the held renders are killed
    config.max_session_renders = 2;
  }
  Observer& AppObserver() override { return metrics_; }
  double Gauge(const std::string& name) { return Value(*registry_, name).value_or(-1); }
  // Waits (60 s at most) until `name` reaches `at_least`.
  bool Reaches(const std::string& name, double at_least) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (absl::Now() < deadline) {
      if (Gauge(name) >= at_least) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }
  // Kills the hooks workers until both held shares have ended (60 s at
  // most): a worker killed while it starts is replaced and the share goes to
  // the new one (a start is retried once), which then holds it in turn.
  bool EndHeldShares() {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (held_done_.load() < static_cast<int>(held_.size()) && absl::Now() < deadline) {
      KillHeldWorkers();
      absl::SleepFor(absl::Milliseconds(50));
    }
    const bool ended = held_done_.load() == static_cast<int>(held_.size());
    for (std::thread& t : held_) t.join();
    held_.clear();
    return ended;
  }
  void TearDown() override {
    if (!held_.empty()) EndHeldShares();
    ServerTest::TearDown();
  }

  std::shared_ptr<prometheus::Registry> registry_ =
      std::make_shared<prometheus::Registry>();
  Metrics metrics_{*registry_};
  std::vector<std::thread> held_;
  std::vector<ShareResult> held_results_{2};
  std::atomic<int> held_done_{0};
};

TEST_F(AttackFairness, OneSessionsRendersCannotStarveAnother) {
  const v1::StartSessionResponse a = StartSession("greedy");
  const v1::StartSessionResponse b = StartSession("victim");
  const std::string sleepy = SleepyPhoto();

  // Session A takes its share of the pool: two renders that do not finish.
  for (int i = 0; i < 2; ++i) {
    held_.emplace_back([&, i] {
      held_results_[i] = Share(a.agent_token(), "greedy", sleepy);
      ++held_done_;
    });
  }
  ASSERT_TRUE(Reaches("docshare_render_in_flight", 2)) << "A's renders never started";

  // A third from A is refused at once, retryable, naming the option and
  // counted; it is not a verdict on the file (no reject reason).
  ShareResult third = Share(a.agent_token(), "greedy", sleepy);
  EXPECT_EQ(third.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << third.status.error_message();
  EXPECT_THAT(third.status.error_message(), HasSubstr("--max-session-renders"));
  EXPECT_EQ(third.trailer("docshare-reject-reason"), "<absent>");
  EXPECT_EQ(Value(*registry_, "docshare_admission_refusals_total",
                  {{"limit", "session_renders"}})
                .value_or(0),
            1);

  // Session B is not behind A: its share renders on the free worker and is
  // delivered while A's two are still held.
  ShareResult other = Share(b.agent_token(), "victim", Photo());
  EXPECT_TRUE(other.status.ok()) << other.status.error_message();
  EXPECT_EQ(held_done_.load(), 0) << "A's renders ended early";

  // Killing A's held workers fails those two shares as lost workers (never a
  // success), and the pool is whole again for A.
  ASSERT_TRUE(EndHeldShares()) << "A's held shares never ended";
  for (const ShareResult& r : held_results_) {
    EXPECT_FALSE(r.status.ok());
    EXPECT_NE(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << r.status.error_message();
  }
  ShareResult again = Share(a.agent_token(), "greedy", Photo());
  EXPECT_TRUE(again.status.ok()) << again.status.error_message();
}

}  // namespace
}  // namespace docshare::testing
