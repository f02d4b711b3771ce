#include "service/pipeline/isolated_renderer.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <vips/vips8>

#include "gtest/gtest.h"
#include "service/common/build_features.h"
#include "service/common/reject.h"
#include "service/pipeline/guard.h"
#include "service/pipeline/sniff.h"
#include "service/pipeline/vips_boundary.h"
#include "tests/isolation/proc.h"
#include "tests/support/files.h"
#include "tests/support/hostile.h"

namespace docshare {
namespace {

using ::docshare::testing::CorpusPath;
using ::docshare::testing::ReadFile;

constexpr char kWorker[] = DOCSHARE_RENDER_WORKER;
constexpr char kHooks[] = DOCSHARE_RENDER_WORKER_HOOKS;
constexpr char kCrash[] = "DOCSHARE-TEST-CRASH";
constexpr char kSleep[] = "DOCSHARE-TEST-SLEEP";
const ImageHeader kHookHeader{FileType::kPng, 1, 1, 1, 19};

class LossCounter final : public Observer {
 public:
  void RenderWorkerLost(std::string_view reason) override {
    std::lock_guard lock(mu_);
    ++lost_[std::string(reason)];
  }
  void RenderWorkerEnded(int pid, std::string_view, std::string_view) override {
    std::lock_guard lock(mu_);
    ended_.push_back(pid);
  }
  std::map<std::string, int> lost() const {
    std::lock_guard lock(mu_);
    return lost_;
  }
  std::vector<int> ended_pids() const {
    std::lock_guard lock(mu_);
    return ended_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int> lost_;
  std::vector<int> ended_;
};

using ::docshare::testing::WaitFor;

class IsolatedRendererTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(InitVips("isolation_tests").ok()); }

  std::unique_ptr<IsolatedRenderer> Make(IsolationOptions isolation) {
    return std::make_unique<IsolatedRenderer>(RenderOptions{}, isolation, observer_);
  }

  static ImageHeader HeaderOf(const std::string& bytes) {
    absl::StatusOr<SniffResult> sniffed = Sniff(bytes);
    EXPECT_TRUE(sniffed.ok()) << sniffed.status();
    if (!sniffed.ok()) return {};
    absl::StatusOr<ImageHeader> header = Guard(bytes, sniffed->type, Limits{});
    EXPECT_TRUE(header.ok()) << header.status();
    return header.ok() ? *header : ImageHeader{};
  }

  static void ExpectSmallJpegRenders(Renderer& renderer) {
    const std::string jpeg = testing::SmallJpeg(40, 30);
    absl::StatusOr<Renditions> r = renderer.Render(jpeg, HeaderOf(jpeg));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->display.width, 40);
    EXPECT_EQ(r->display.height, 30);
  }

  LossCounter observer_;
};

const char* const kCorpusFiles[] = {
    "sharp/2569067123_aca715a2ee_o.jpg",
    "sharp/Landscape_6.jpg",
    "sharp/Channel_digital_image_CMYK_color.jpg",
    "sharp/with-alpha.png",
    "sharp/Flag_of_the_Netherlands-16bit.png",
    "sharp/animated-loop-3.gif",
    "pngsuite/basi0g01.png",
};

TEST_F(IsolatedRendererTest, RendersTheCorpusLikeTheInProcessRenderer) {
  auto isolated = Make({.worker_path = kWorker, .workers = 1});
  VipsRenderer in_process(RenderOptions{});
  for (const char* file : kCorpusFiles) {
    SCOPED_TRACE(file);
    const std::string bytes = ReadFile(CorpusPath(file));
    const ImageHeader header = HeaderOf(bytes);
    absl::StatusOr<Renditions> want = in_process.Render(bytes, header);
    absl::StatusOr<Renditions> got = isolated->Render(bytes, header);
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->width, want->width);
    EXPECT_EQ(got->height, want->height);
    EXPECT_EQ(got->frame_count, want->frame_count);
    for (auto [g, w] : {std::pair{&got->display, &want->display},
                        std::pair{&got->thumbnail, &want->thumbnail}}) {
      EXPECT_EQ(g->rendition, w->rendition);
      EXPECT_EQ(g->mime_type, w->mime_type);
      EXPECT_EQ(g->width, w->width);
      EXPECT_EQ(g->height, w->height);
      EXPECT_EQ(*g->data, *w->data);  // same libvips, same options: same bytes
    }
  }
  EXPECT_TRUE(observer_.lost().empty());
}

TEST_F(IsolatedRendererTest, ARejectionComesBackAsTheInProcessOne) {
  auto isolated = Make({.worker_path = kWorker, .workers = 1});
  const std::string bytes = ReadFile(CorpusPath("sharp/truncated.jpg"));
  const ImageHeader header = HeaderOf(bytes);
  absl::StatusOr<Renditions> want = VipsRenderer(RenderOptions{}).Render(bytes, header);
  absl::StatusOr<Renditions> got = isolated->Render(bytes, header);
  ASSERT_FALSE(want.ok());
  EXPECT_EQ(got.status(), want.status());  // code, message
  EXPECT_EQ(GetRejectReason(got.status()), RejectReason::kCorruptImage);
  EXPECT_EQ(GetDetectedMime(got.status()), "image/jpeg");
  ExpectSmallJpegRenders(*isolated);  // a rejection costs no worker
  EXPECT_TRUE(observer_.lost().empty());
}

TEST_F(IsolatedRendererTest, ACrashFailsOnlyItsShareAndTheWorkerIsRespawned) {
  auto isolated = Make({.worker_path = kHooks, .workers = 1});
  ExpectSmallJpegRenders(*isolated);
  const pid_t before = isolated->worker_pids()[0];
  absl::StatusOr<Renditions> crashed = isolated->Render(kCrash, kHookHeader);
  EXPECT_EQ(GetRejectReason(crashed.status()), RejectReason::kCorruptImage);
  EXPECT_EQ(crashed.status().message(), "the image could not be decoded safely");
  EXPECT_EQ(GetDetectedMime(crashed.status()), "image/png");
  const pid_t after = isolated->worker_pids()[0];
  EXPECT_GT(after, 0);
  EXPECT_NE(after, before);
  EXPECT_EQ(kill(before, 0), -1) << "the crashed worker is reaped";
  ExpectSmallJpegRenders(*isolated);
  EXPECT_EQ(observer_.lost(), (std::map<std::string, int>{{"crashed", 1}}));
}

TEST_F(IsolatedRendererTest, AWorkerKilledMidRenderFailsOnlyItsShare) {
  auto isolated =
      Make({.worker_path = kHooks, .workers = 1, .timeout = absl::Seconds(60)});
  ExpectSmallJpegRenders(*isolated);
  const pid_t pid = isolated->worker_pids()[0];
  absl::StatusOr<Renditions> killed;
  std::thread share([&] { killed = isolated->Render(kSleep, kHookHeader); });
  // Sleeping in pause() means it has read the request and is "rendering".
  const bool rendering = WaitFor([&] {
    std::ifstream wchan("/proc/" + std::to_string(pid) + "/wchan");
    std::string name;
    wchan >> name;
    return isolated->busy() == 1 && name.find("pause") != std::string::npos;
  });
  EXPECT_TRUE(rendering);
  kill(pid, SIGKILL);
  share.join();
  EXPECT_EQ(GetRejectReason(killed.status()), RejectReason::kCorruptImage);
  EXPECT_EQ(killed.status().message(), "the image could not be decoded safely");
  ExpectSmallJpegRenders(*isolated);
  EXPECT_NE(isolated->worker_pids()[0], pid);
  EXPECT_EQ(observer_.lost(), (std::map<std::string, int>{{"crashed", 1}}));
}

TEST_F(IsolatedRendererTest, ATimeoutKillsTheWorkerAndRespawnsIt) {
  auto isolated =
      Make({.worker_path = kHooks, .workers = 1, .timeout = absl::Seconds(1)});
  // Start-up (libvips loads its modules) is not part of the 1 s: wait until
  // the worker is up (sandboxed: the step before its Ready).
  auto up = [&] {
    const pid_t pid = isolated->worker_pids()[0];
    return pid > 0 && testing::ProcStatus(pid, "Seccomp") == "2";
  };
  ASSERT_TRUE(WaitFor(up));
  ExpectSmallJpegRenders(*isolated);
  const pid_t pid = isolated->worker_pids()[0];
  const absl::Time start = absl::Now();
  absl::StatusOr<Renditions> slow = isolated->Render(kSleep, kHookHeader);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(GetRejectReason(slow.status()), RejectReason::kCorruptImage);
  EXPECT_EQ(slow.status().message(), "rendering took longer than 1 s");
  EXPECT_GE(took, absl::Seconds(1));
  EXPECT_LT(took, absl::Seconds(5));
  EXPECT_EQ(kill(pid, 0), -1) << "the stalled worker is killed and reaped";
  ASSERT_TRUE(WaitFor(up));
  ExpectSmallJpegRenders(*isolated);
  EXPECT_EQ(observer_.lost(), (std::map<std::string, int>{{"timeout", 1}}));
}

TEST_F(IsolatedRendererTest, ARenderOverTheMemoryLimitFailsCleanly) {
  auto isolated = Make({.worker_path = kWorker, .workers = 1, .memory_limit = 64 << 20});
  // Adam7: libpng holds the whole 50 MP image (50 MB as 8-bit grey) before
  // the first row comes out, on top of the pipeline's own buffers.
  const std::string png = testing::InterlacedPngNearLimit(50'000'000);
  absl::StatusOr<Renditions> r = isolated->Render(png, HeaderOf(png));
  ASSERT_FALSE(r.ok());
  const bool rejected = GetRejectReason(r.status()) == RejectReason::kCorruptImage;
  const bool out_of_memory = absl::IsInternal(r.status()) &&
                             r.status().message() == "out of memory while rendering";
  EXPECT_TRUE(rejected || out_of_memory) << r.status();
  ExpectSmallJpegRenders(*isolated);
  // The control: the same file renders under the default limit.
  auto roomy = Make({.worker_path = kWorker, .workers = 1});
  absl::StatusOr<Renditions> fits = roomy->Render(png, HeaderOf(png));
  EXPECT_TRUE(fits.ok()) << fits.status();
}

// --render-heap-keep-bytes: a worker that keeps its freed heap renders the
// next file in the memory of the last one; with glibc's defaults each render
// maps, faults in (zeroed by the kernel) and unmaps its pixel buffers again.
TEST_F(IsolatedRendererTest, AKeptHeapSparesTheNextRenderItsPageFaults) {
  if (!kGlibcMalloc) GTEST_SKIP() << "a sanitizer's allocator: no glibc heap";
  const std::string bytes = ReadFile(CorpusPath("sharp/2569067123_aca715a2ee_o.jpg"));
  const ImageHeader header = HeaderOf(bytes);
  auto faults_of_a_second_render = [&](uint64_t keep) -> long {
    auto isolated = Make({.worker_path = kWorker, .workers = 1, .heap_keep_bytes = keep});
    EXPECT_TRUE(isolated->Render(bytes, header).ok());  // warms the heap up
    const std::vector<pid_t> pids = isolated->worker_pids();
    EXPECT_EQ(pids.size(), 1u);
    if (pids.size() != 1 || pids[0] <= 0) return -1;
    const long before = testing::ProcMinorFaults(pids[0]);
    absl::StatusOr<Renditions> again = isolated->Render(bytes, header);
    EXPECT_TRUE(again.ok()) << again.status();
    const long after = testing::ProcMinorFaults(pids[0]);
    EXPECT_GE(before, 0);
    return after - before;
  };
  const long kept = faults_of_a_second_render(64 << 20);
  const long glibc = faults_of_a_second_render(0);
  ASSERT_GE(kept, 0);
  // Measured: 150-190 faults against ~3,840 (a 1600 x 1306 display is 6 MB).
  EXPECT_LT(kept * 4, glibc) << "kept " << kept << ", glibc's defaults " << glibc;
  EXPECT_TRUE(observer_.lost().empty());
}

TEST_F(IsolatedRendererTest, RendersConcurrentlyFromSeveralThreads) {
  auto isolated = Make({.worker_path = kWorker, .workers = 3});
  std::vector<std::string> files;
  std::vector<ImageHeader> headers;
  for (const char* file : {"sharp/Landscape_6.jpg", "sharp/with-alpha.png",
                           "sharp/animated-loop-3.gif", "sharp/320x240.jpg"}) {
    files.push_back(ReadFile(CorpusPath(file)));
    headers.push_back(HeaderOf(files.back()));
  }
  std::vector<int> want_width;
  VipsRenderer in_process(RenderOptions{});
  for (size_t i = 0; i < files.size(); ++i) {
    absl::StatusOr<Renditions> r = in_process.Render(files[i], headers[i]);
    ASSERT_TRUE(r.ok()) << r.status();
    want_width.push_back(r->display.width);
  }
  std::atomic<int> ok{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        const size_t f = static_cast<size_t>(t + i) % files.size();
        absl::StatusOr<Renditions> r = isolated->Render(files[f], headers[f]);
        (r.ok() && r->display.width == want_width[f] ? ok : wrong)++;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok, 24);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(isolated->busy(), 0);
  EXPECT_TRUE(observer_.lost().empty());
}

// Issue 16: a worker killed between shares stayed a zombie, unreplaced,
// unlogged and uncounted. It is reaped and replaced at once, no share needed.
TEST_F(IsolatedRendererTest, AWorkerThatDiedIdleIsReplacedAtOnce) {
  auto isolated = Make({.worker_path = kWorker, .workers = 2});
  ExpectSmallJpegRenders(*isolated);
  const std::vector<pid_t> before = isolated->worker_pids();
  // Both up: sandboxed, their Ready written.
  for (pid_t pid : before) {
    ASSERT_TRUE(WaitFor([&] {
      return testing::ProcStatus(pid, "Seccomp") == "2" && testing::WaitsForARequest(pid);
    }));
  }
  kill(before[0], SIGKILL);
  EXPECT_TRUE(WaitFor([&] {
    const std::vector<pid_t> now = isolated->worker_pids();
    return now[0] > 0 && now[0] != before[0] && kill(before[0], 0) == -1;
  })) << "replaced, and the dead one reaped (no zombie)";
  EXPECT_EQ(isolated->worker_pids()[1], before[1]) << "the other worker is untouched";
  EXPECT_EQ(observer_.lost(), (std::map<std::string, int>{{"idle", 1}}));
  EXPECT_EQ(observer_.ended_pids(), std::vector<int>{before[0]});
  ExpectSmallJpegRenders(*isolated);
  ExpectSmallJpegRenders(*isolated);
  EXPECT_EQ(observer_.lost(), (std::map<std::string, int>{{"idle", 1}}));
}

TEST_F(IsolatedRendererTest, AWorkerKilledBeforeItsFirstShareIsReplacedToo) {
  auto isolated = Make({.worker_path = kWorker, .workers = 1});
  const pid_t pid = isolated->worker_pids()[0];
  // Once it is up (sandboxed, waiting for a request), it has answered Ready,
  // unread until a share.
  ASSERT_TRUE(WaitFor([&] {
    return testing::ProcStatus(pid, "Seccomp") == "2" && testing::WaitsForARequest(pid);
  }));
  kill(pid, SIGKILL);
  EXPECT_TRUE(WaitFor([&] {
    const pid_t now = isolated->worker_pids()[0];
    return now > 0 && now != pid;
  }));
  EXPECT_EQ(observer_.lost(), (std::map<std::string, int>{{"idle", 1}}));
  ExpectSmallJpegRenders(*isolated);
}

TEST_F(IsolatedRendererTest, AMissingWorkerBinaryIsAnInternalErrorNotARejection) {
  auto isolated =
      Make({.worker_path = "/nonexistent/docshare-render-worker", .workers = 1});
  const std::string jpeg = testing::SmallJpeg();
  absl::StatusOr<Renditions> r = isolated->Render(jpeg, HeaderOf(jpeg));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal) << r.status();
  EXPECT_EQ(GetRejectReason(r.status()), RejectReason::kNone);
  EXPECT_NE(r.status().message().find("did not start"), std::string_view::npos);
}

TEST_F(IsolatedRendererTest, WorkersInheritOnlyTheirSocket) {
  const int leaky = open("/dev/null", O_RDONLY);  // no O_CLOEXEC
  ASSERT_GE(leaky, 0);
  auto isolated = Make({.worker_path = kWorker, .workers = 1});
  close(leaky);
  ExpectSmallJpegRenders(*isolated);  // past start-up
  std::vector<std::string> fds;
  for (const auto& entry : std::filesystem::directory_iterator(
           "/proc/" + std::to_string(isolated->worker_pids()[0]) + "/fd")) {
    fds.push_back(entry.path().filename().string());
  }
  std::sort(fds.begin(), fds.end());
  EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2", "3"}));
}

TEST_F(IsolatedRendererTest, TheDestructorKillsAndReapsEveryWorker) {
  auto isolated = Make({.worker_path = kWorker, .workers = 3});
  std::vector<pid_t> pids = isolated->worker_pids();
  ASSERT_EQ(pids.size(), 3u);
  isolated.reset();
  for (pid_t pid : pids) {
    EXPECT_GT(pid, 0);
    EXPECT_EQ(kill(pid, 0), -1) << pid;
  }
}

}  // namespace
}  // namespace docshare
