// Issue 12 attack 4: a render worker is a security boundary. Code running
// in a worker (the hooks worker stands in for a decoder exploit) cannot open
// a socket, exec, fork, signal the server or read a secret, and whatever it
// answers, the server stays up and refuses the lie.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "service/common/log.h"
#include "service/common/reject.h"
#include "service/pipeline/isolated_renderer.h"
#include "service/pipeline/vips_boundary.h"
#include "tests/isolation/proc.h"
#include "tests/support/hostile.h"

namespace docshare {
namespace {

using ::docshare::testing::ProcLimit;
using ::docshare::testing::ProcStatus;
using ::docshare::testing::WaitFor;

constexpr char kHooks[] = DOCSHARE_RENDER_WORKER_HOOKS;
constexpr char kWorker[] = DOCSHARE_RENDER_WORKER;
const ImageHeader kHookHeader{FileType::kPng, 1, 1, 1, 19};

struct OutputLine {
  int pid;
  LogLevel level;
  std::string line;
  std::string document;
};

class Recorder final : public Observer {
 public:
  void RenderWorkerLost(std::string_view reason) override {
    std::lock_guard lock(mu_);
    ++lost_[std::string(reason)];
  }
  void RenderWorkerOutput(int pid, LogLevel level, std::string_view line,
                          std::string_view document) override {
    std::lock_guard lock(mu_);
    output_.push_back({pid, level, std::string(line), std::string(document)});
  }
  std::map<std::string, int> lost() const {
    std::lock_guard lock(mu_);
    return lost_;
  }
  std::vector<OutputLine> output() const {
    std::lock_guard lock(mu_);
    return output_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int> lost_;
  std::vector<OutputLine> output_;
};

class Sandbox : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(InitVips("isolation_tests").ok()); }
  void SetUp() override {
    // What a deployment puts in the server's environment (the chart does).
    setenv("DOCSHARE_TOKEN_SECRET", "a-secret-a-worker-must-never-see", 1);
    setenv("DOCSHARE_ADMIN_TOKEN", "an-admin-token-a-worker-must-never-see", 1);
    renderer_ = std::make_unique<IsolatedRenderer>(
        RenderOptions{}, IsolationOptions{.worker_path = kHooks, .workers = 1},
        observer_);
  }
  void TearDown() override {
    renderer_.reset();
    unsetenv("DOCSHARE_TOKEN_SECRET");
    unsetenv("DOCSHARE_ADMIN_TOKEN");
  }

  // What the hook reports (an INTERNAL failure's message).
  std::string Attempt(const std::string& hook) {
    absl::StatusOr<Renditions> r = renderer_->Render(hook, kHookHeader);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal) << r.status();
    return std::string(r.status().message());
  }

  void ExpectABadReply(const std::string& hook) {
    const pid_t before = renderer_->worker_pids()[0];
    absl::StatusOr<Renditions> r = renderer_->Render(hook, kHookHeader);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_EQ(GetRejectReason(r.status()), RejectReason::kCorruptImage);
    EXPECT_EQ(GetDetectedMime(r.status()), "image/png");
    EXPECT_EQ(r.status().message(), "the image could not be decoded safely");
    EXPECT_NE(renderer_->worker_pids()[0], before) << "the lying worker is replaced";
    EXPECT_EQ(observer_.lost(), (std::map<std::string, int>{{"bad_reply", 1}}));
    const std::string jpeg = testing::SmallJpeg(40, 30);
    const ImageHeader header{FileType::kJpeg, 40, 30, 1, jpeg.size()};
    EXPECT_TRUE(renderer_->Render(jpeg, header).ok()) << "and the next share renders";
  }

  Recorder observer_;
  std::unique_ptr<IsolatedRenderer> renderer_;
};

TEST_F(Sandbox, ACrLfMimeIsABadReplyNotAnAbortedServer) {
  ExpectABadReply("DOCSHARE-TEST-LIE-MIME");
}

TEST_F(Sandbox, AStatusOutsideTheFailureTableIsABadReply) {
  ExpectABadReply("DOCSHARE-TEST-LIE-CODE");
}

TEST_F(Sandbox, HtmlPreviewsAreABadReply) { ExpectABadReply("DOCSHARE-TEST-LIE-HTML"); }

TEST_F(Sandbox, AWorkerCannotOpenASocket) {
  EXPECT_EQ(Attempt("DOCSHARE-TEST-SOCKET"), "socket: Operation not permitted");
}

TEST_F(Sandbox, AWorkerCannotExec) {
  EXPECT_EQ(Attempt("DOCSHARE-TEST-EXEC"), "exec: Operation not permitted");
}

TEST_F(Sandbox, AWorkerCannotFork) {
  EXPECT_EQ(Attempt("DOCSHARE-TEST-FORK"), "fork: Operation not permitted");
}

TEST_F(Sandbox, AWorkerCannotSignalTheServer) {
  EXPECT_EQ(Attempt("DOCSHARE-TEST-KILL"), "kill: Operation not permitted");
}

TEST_F(Sandbox, AWorkerCannotReadASecret) {
  char path[] = "/tmp/docshare-secret-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "hunter2", 7), 7);
  close(fd);
  // The control: this process reads it.
  std::ifstream readable(path);
  std::string content;
  readable >> content;
  EXPECT_EQ(content, "hunter2");
  EXPECT_EQ(Attempt(std::string("DOCSHARE-TEST-READ:") + path),
            "open: Operation not permitted");
  // The server's environment, where the chart's secrets live.
  EXPECT_EQ(Attempt("DOCSHARE-TEST-READ:/proc/" + std::to_string(getpid()) + "/environ"),
            "open: Operation not permitted");
  unlink(path);
}

TEST_F(Sandbox, AWorkerStartsWithAnEmptyEnvironment) {
  const std::string env = Attempt("DOCSHARE-TEST-ENV");
  EXPECT_EQ(env.find("DOCSHARE"), std::string::npos) << env;
  // Nothing but what libvips sets for itself at start-up (VIPSHOME) and a
  // sanitizer's options, when a sanitizer build runs.
  std::istringstream names(env.substr(std::string("env: ").size()));
  for (std::string name; names >> name;) {
    EXPECT_TRUE(name == "VIPSHOME" || name.ends_with("SAN_OPTIONS")) << name;
  }
}

TEST_F(Sandbox, NoNewPrivilegesSeccompAndLimits) {
  const std::string jpeg = testing::SmallJpeg(40, 30);
  ASSERT_TRUE(renderer_->Render(jpeg, {FileType::kJpeg, 40, 30, 1, jpeg.size()}).ok());
  const pid_t pid = renderer_->worker_pids()[0];
  EXPECT_EQ(ProcStatus(pid, "NoNewPrivs"), "1");
  EXPECT_EQ(ProcStatus(pid, "Seccomp"), "2") << "a seccomp filter";
  // The soft limit (the first column) of each is a number, not "unlimited".
  // (No RLIMIT_NPROC: see EnterWorkerSandbox.)
  for (const char* limit : {"Max cpu time", "Max address space"}) {
    const std::string line = ProcLimit(pid, limit);
    std::istringstream soft(line.substr(std::string(limit).size()));
    uint64_t value = 0;
    EXPECT_TRUE(soft >> value) << line;
    EXPECT_GT(value, 0u) << line;
  }
}

// What a worker writes reaches the server as log lines, each with the
// worker's pid and the document it renders; a Logger makes each one JSON.
TEST_F(Sandbox, WorkerOutputIsRelayedAsLogLinesWithTheDocument) {
  {
    ScopedLogDocument document("doc-relay-1");
    EXPECT_EQ(Attempt("DOCSHARE-TEST-STDERR"), "wrote");
  }
  const pid_t pid = renderer_->worker_pids()[0];
  ASSERT_TRUE(WaitFor([&] { return observer_.output().size() >= 2; }));
  const std::vector<OutputLine> lines = observer_.output();
  EXPECT_EQ(lines[0].pid, pid);
  EXPECT_EQ(lines[0].line, "a line on the worker's stderr");
  EXPECT_EQ(lines[0].level, LogLevel::kWarn);
  EXPECT_EQ(lines[0].document, "doc-relay-1");
  EXPECT_EQ(lines[1].line, "GLib: a GLib warning in the worker");
  EXPECT_EQ(lines[1].level, LogLevel::kWarn);

  std::ostringstream out;
  Logger log(LogLevel::kDebug, &out);
  LogObserver(log).RenderWorkerOutput(lines[0].pid, lines[0].level, lines[0].line,
                                      lines[0].document);
  EXPECT_EQ(out.str().back(), '\n');
  EXPECT_NE(out.str().find("\"event\":\"render_worker_output\""), std::string::npos);
  EXPECT_NE(out.str().find("\"document_id\":\"doc-relay-1\""), std::string::npos);
  EXPECT_NE(out.str().find("\"line\":\"a line on the worker's stderr\""),
            std::string::npos);
}

// A truncated file's libvips warning, in the real worker, comes out as one
// log line with the document's id (issue 16: "Every log line is JSON").
TEST(WorkerLog, ATruncatedFilesLibvipsWarningIsOneLogLine) {
  ASSERT_TRUE(InitVips("isolation_tests").ok());
  Recorder observer;
  IsolatedRenderer renderer(RenderOptions{}, {.worker_path = kWorker, .workers = 1},
                            observer);
  std::string jpeg = testing::SmallJpeg(200, 150);
  jpeg.resize(jpeg.size() / 2);
  {
    ScopedLogDocument document("doc-truncated");
    absl::StatusOr<Renditions> r =
        renderer.Render(jpeg, {FileType::kJpeg, 200, 150, 1, jpeg.size()});
    EXPECT_EQ(GetRejectReason(r.status()), RejectReason::kCorruptImage) << r.status();
  }
  ASSERT_TRUE(WaitFor([&] { return !observer.output().empty(); }));
  for (const OutputLine& line : observer.output()) {
    SCOPED_TRACE(line.line);
    EXPECT_EQ(line.document, "doc-truncated");
    EXPECT_EQ(line.line.find('\n'), std::string::npos);
  }
  // libvips' words for it: 8.14 (Debian 12) and 8.16 (Debian 13).
  auto names_the_end = [](const std::string& line) {
    return line.find("libvips: VipsJpeg: Premature end of input file") !=
               std::string::npos ||
           line.find("libvips: VipsJpeg: premature end of JPEG image") !=
               std::string::npos;
  };
  const bool found = WaitFor([&] {
    for (const OutputLine& line : observer.output()) {
      if (names_the_end(line.line)) return true;
    }
    return false;
  });
  std::string lines;
  for (const OutputLine& line : observer.output()) lines += "\n  " + line.line;
  EXPECT_TRUE(found) << "no line names the end of the input; the lines:" << lines;
}

}  // namespace
}  // namespace docshare
