#include "service/pipeline/render_worker.h"

#include <glib.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "service/common/build_features.h"
#include "service/pipeline/render_wire.h"
#include "service/pipeline/vips_boundary.h"
#include "service/pipeline/worker_sandbox.h"

namespace docshare {
namespace {

// The worker's log: lines on stderr (a pipe to the server, which logs each
// as JSON with the worker's pid and the document it renders), led by their
// level (IsolatedRenderer's SplitLevel).
void Say(std::string_view level, std::string_view text) {
  std::string line = absl::StrCat(std::string(level), " ", std::string(text));
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  line += '\n';
  (void)!write(STDERR_FILENO, line.data(), line.size());
}

int Fail(const absl::Status& status) {
  Say("error", std::string(status.message()));
  return 1;
}

void LogGLib(const gchar* domain, GLogLevelFlags flags, const gchar* message, gpointer) {
  // GLib's info and debug (libvips' start-up chatter) stay in the worker,
  // as GLib's default handler keeps them without G_MESSAGES_DEBUG.
  if ((flags & (G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG)) != 0) return;
  const bool warning =
      (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) != 0;
  Say(warning ? "warn" : "debug", absl::StrCat(domain != nullptr ? domain : "GLib", ": ",
                                               message != nullptr ? message : ""));
}

// Bytes of address space mapped now (VmSize): libvips and its libraries
// alone map a few hundred MB that a render never touches.
uint64_t MappedBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0;
  statm >> pages;
  return pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

absl::Status LimitAddressSpace(uint64_t render_bytes) {
  if (render_bytes == 0) return absl::OkStatus();
  const rlim_t limit = MappedBytes() + render_bytes;
  const rlimit rl{limit, limit};
  if (setrlimit(RLIMIT_AS, &rl) != 0)
    return absl::InternalError("setrlimit(RLIMIT_AS) failed");
  return absl::OkStatus();
}

// A worker stuck in a render when the server dies would not see its socket
// close: a watchdog thread ends it within a second. Not PR_SET_PDEATHSIG: that
// fires when the *thread* that spawned the worker exits (a render pool
// thread, a test's thread), not the server.
void ExitWithTheServer() {
  const pid_t server = getppid();
  std::thread([server] {
    while (getppid() == server) std::this_thread::sleep_for(std::chrono::seconds(1));
    _exit(1);
  }).detach();
}

}  // namespace

absl::Status KeepHeap(uint64_t bytes) {
  if (bytes == 0 || !kGlibcMalloc) return absl::OkStatus();
  if (bytes > kMaxHeapKeepBytes) {
    return absl::InvalidArgumentError("heap_keep_bytes over its bound");
  }
  // glibc refuses an mmap threshold over 32 MiB (HEAP_MAX_SIZE / 2).
  const int mmap_threshold = static_cast<int>(std::min<uint64_t>(bytes / 2, 32u << 20));
  if (mallopt(M_TRIM_THRESHOLD, static_cast<int>(bytes)) != 1 ||
      mallopt(M_MMAP_THRESHOLD, mmap_threshold) != 1) {
    return absl::InternalError("mallopt refused the heap thresholds");
  }
  return absl::OkStatus();
}

absl::Status ServeRenderRequests(int fd, Renderer& renderer, uint32_t cpu_seconds) {
  for (;;) {
    absl::StatusOr<std::string> frame =
        ReadFrame(fd, absl::InfiniteFuture(), kMaxRequestFrameBytes);
    if (absl::IsUnavailable(frame.status())) return absl::OkStatus();  // server closed
    if (!frame.ok()) return frame.status();
    absl::StatusOr<RenderRequest> request = DecodeRequest(*frame);
    if (!request.ok()) return request.status();
    if (absl::Status s = LimitCpuForNextRender(cpu_seconds); !s.ok()) return s;
    const std::string response =
        EncodeResponse(renderer.Render(request->bytes, request->header));
    frame->clear();
    frame->shrink_to_fit();  // the upload's memory back before the next one
    if (absl::Status s = WriteParts(fd, {response}, absl::InfiniteFuture()); !s.ok()) {
      return absl::IsUnavailable(s) ? absl::OkStatus() : s;
    }
  }
}

int RenderWorkerMain(int argc, char** argv, const RendererFactory& make_renderer) {
  // Only the socket is inherited on purpose; whatever else slipped through
  // (an fd of the server opened without O_CLOEXEC) is closed before any
  // untrusted byte is read.
  close_range(kRenderWorkerFd + 1, ~0U, 0);
  ExitWithTheServer();
  // One arena: per-thread arenas reserve 64 MB of address space each, which
  // RLIMIT_AS would count against the render.
  mallopt(M_ARENA_MAX, 1);
  // libvips' and GLib's warnings as the worker's log lines, not raw text.
  g_log_set_default_handler(LogGLib, nullptr);
  if (absl::Status vips = InitVips(argc > 0 ? argv[0] : "docshare-render-worker");
      !vips.ok()) {
    return Fail(vips);
  }
  absl::StatusOr<std::string> frame =
      ReadFrame(kRenderWorkerFd, absl::InfiniteFuture(), kMaxRequestFrameBytes);
  if (!frame.ok()) return Fail(frame.status());
  absl::StatusOr<WorkerInit> init = DecodeInit(*frame);
  if (!init.ok()) return Fail(init.status());
  if (absl::Status s = KeepHeap(init->heap_keep_bytes); !s.ok()) return Fail(s);
  std::unique_ptr<Renderer> renderer = make_renderer(init->options);
  if (absl::Status s = LimitAddressSpace(init->memory_limit); !s.ok()) return Fail(s);
  // From here on, code a hostile file got running finds no way out.
  if (absl::Status s = EnterWorkerSandbox(); !s.ok()) return Fail(s);
  if (absl::Status s =
          WriteParts(kRenderWorkerFd, {EncodeReady()}, absl::InfiniteFuture());
      !s.ok()) {
    return Fail(s);
  }
  if (absl::Status s = ServeRenderRequests(kRenderWorkerFd, *renderer, init->cpu_seconds);
      !s.ok())
    return Fail(s);
  return 0;
}

}  // namespace docshare
