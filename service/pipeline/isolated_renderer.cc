#include "service/pipeline/isolated_renderer.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/common/reject.h"
#include "service/pipeline/render_wire.h"
#include "service/pipeline/render_worker.h"

extern char** environ;

namespace docshare {
namespace {

std::string Errno(std::string_view call, int error) {
  return absl::StrCat(std::string(call), ": ", std::strerror(error));
}

std::string HowItEnded(int wstatus) {
  if (WIFSIGNALED(wstatus)) {
    return absl::StrCat("killed by signal ", WTERMSIG(wstatus), " (",
                        strsignal(WTERMSIG(wstatus)), ")");
  }
  if (WIFEXITED(wstatus)) return absl::StrCat("exited with status ", WEXITSTATUS(wstatus));
  return "ended";
}

// An idle worker has nothing to say: anything readable, or a hang-up, means
// it died (or misbehaved) between shares.
bool DiedIdle(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) != 0;
}

// posix_spawn with the child's socket as fd 3 and nothing else inherited
// (every fd of the server is close-on-exec, and the worker closes any that
// is not), default signal handling and an empty signal mask (the server
// blocks SIGTERM for sigwait), in its own process group so a terminal's ^C
// reaches the server, which drains, and not the workers.
absl::StatusOr<pid_t> SpawnProcess(const std::string& path, int child_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&actions, child_fd, kRenderWorkerFd);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
  std::string arg0 = path;
  char* argv[] = {arg0.data(), nullptr};
  pid_t pid = -1;
  const int error = posix_spawn(&pid, path.c_str(), &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (error != 0) return absl::InternalError(Errno("cannot start " + path, error));
  return pid;
}

}  // namespace

std::string DefaultRenderWorkerPath() {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "docshare-render-worker";
  return (self.parent_path() / "docshare-render-worker").string();
}

IsolatedRenderer::IsolatedRenderer(RenderOptions options, IsolationOptions isolation,
                                   Observer& observer)
    : options_(options), isolation_(std::move(isolation)), observer_(observer) {
  workers_.resize(std::max(1, isolation_.workers));
  for (size_t i = 0; i < workers_.size(); ++i) {
    // A worker that cannot start now is retried by the first share it gets.
    if (absl::Status s = Spawn(workers_[i]); !s.ok()) {
      std::fprintf(stderr, "docshare: render worker: %s\n", std::string(s.message()).c_str());
    }
    free_.push_back(static_cast<int>(i));
  }
}

IsolatedRenderer::~IsolatedRenderer() {
  for (Worker& w : workers_) {
    if (w.pid > 0) {
      kill(w.pid, SIGKILL);
      waitpid(w.pid, nullptr, 0);
    }
    if (w.fd >= 0) close(w.fd);
  }
}

absl::Status IsolatedRenderer::Spawn(Worker& w) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return absl::InternalError(Errno("socketpair", errno));
  }
  absl::StatusOr<pid_t> pid = SpawnProcess(isolation_.worker_path, fds[1]);
  close(fds[1]);
  if (!pid.ok()) {
    close(fds[0]);
    return pid.status();
  }
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  {
    std::lock_guard lock(mu_);
    w.pid = *pid;
  }
  w.fd = fds[0];
  w.ready = false;
  // Fits the socket buffer: never blocks.
  WorkerInit init{options_, isolation_.memory_limit};
  return WriteParts(w.fd, {EncodeInit(init)}, absl::Now() + absl::Seconds(1));
}

std::string IsolatedRenderer::Retire(Worker& w, std::string_view reason) {
  std::string how = "not running";
  if (w.pid > 0) {
    kill(w.pid, SIGKILL);  // harmless if it already died
    int wstatus = 0;
    how = waitpid(w.pid, &wstatus, 0) == w.pid ? HowItEnded(wstatus) : Errno("waitpid", errno);
    std::fprintf(stderr, "docshare: render worker %d lost (%s): %s\n", static_cast<int>(w.pid),
                 std::string(reason).c_str(), how.c_str());
  }
  if (w.fd >= 0) close(w.fd);
  {
    std::lock_guard lock(mu_);
    w.pid = -1;
  }
  w.fd = -1;
  w.ready = false;
  observer_.RenderWorkerLost(reason);
  return how;
}

absl::Status IsolatedRenderer::EnsureReady(Worker& w, absl::Time deadline) {
  std::string why;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (w.fd < 0) {
      if (absl::Status s = Spawn(w); !s.ok()) {
        why = std::string(s.message());
        if (w.pid > 0) {
          Retire(w, "start");
        } else {
          observer_.RenderWorkerLost("start");
        }
        continue;
      }
    }
    if (w.ready) {
      if (!DiedIdle(w.fd)) return absl::OkStatus();
      why = Retire(w, "idle");
      continue;
    }
    absl::StatusOr<std::string> frame = ReadFrame(w.fd, deadline, kMaxResponseFrameBytes);
    absl::Status ready = frame.ok() ? DecodeReady(*frame) : frame.status();
    if (ready.ok()) {
      w.ready = true;
      return absl::OkStatus();
    }
    why = absl::StrCat(ready.message(), "; ", Retire(w, "start"));
  }
  return absl::InternalError("render worker did not start: " + why);
}

absl::StatusOr<Renditions> IsolatedRenderer::RenderOn(Worker& w, std::string_view bytes,
                                                      const ImageHeader& header) {
  const absl::Time deadline = absl::Now() + isolation_.timeout;
  if (absl::Status s = EnsureReady(w, deadline); !s.ok()) return s;
  const std::string head = EncodeRequestHead(header, bytes.size());
  absl::Status sent = WriteParts(w.fd, {head, bytes}, deadline);
  absl::StatusOr<std::string> frame =
      sent.ok() ? ReadFrame(w.fd, deadline, kMaxResponseFrameBytes) : sent;
  absl::StatusOr<absl::StatusOr<Renditions>> response =
      frame.ok() ? DecodeResponse(*frame) : frame.status();
  if (response.ok()) return *std::move(response);

  const std::string_view mime = FileTypeMime(header.type);
  if (absl::IsDeadlineExceeded(response.status())) {
    Retire(w, "timeout");
    (void)Spawn(w);  // the next share waits for its Ready
    return Reject(RejectReason::kCorruptImage, mime,
                  absl::StrCat("rendering took longer than ",
                               absl::ToInt64Seconds(isolation_.timeout), " s"));
  }
  Retire(w, absl::IsDataLoss(response.status()) && frame.ok() ? "protocol" : "crashed");
  (void)Spawn(w);
  return Reject(RejectReason::kCorruptImage, mime, "the image could not be decoded safely");
}

absl::StatusOr<Renditions> IsolatedRenderer::Render(std::string_view bytes,
                                                    const ImageHeader& header) {
  const int slot = Acquire();
  absl::StatusOr<Renditions> result = RenderOn(workers_[slot], bytes, header);
  Release(slot);
  return result;
}

int IsolatedRenderer::Acquire() {
  std::unique_lock lock(mu_);
  free_cv_.wait(lock, [this] { return !free_.empty(); });
  const int slot = free_.back();
  free_.pop_back();
  return slot;
}

void IsolatedRenderer::Release(int slot) {
  {
    std::lock_guard lock(mu_);
    free_.push_back(slot);
  }
  free_cv_.notify_one();
}

std::vector<pid_t> IsolatedRenderer::worker_pids() const {
  std::lock_guard lock(mu_);
  std::vector<pid_t> pids;
  for (const Worker& w : workers_) pids.push_back(w.pid);
  return pids;
}

int IsolatedRenderer::busy() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(workers_.size() - free_.size());
}

}  // namespace docshare
