#include "service/pipeline/isolated_renderer.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/common/log.h"
#include "service/common/reject.h"
#include "service/pipeline/render_wire.h"
#include "service/pipeline/render_worker.h"

namespace docshare {
namespace {

// A worker line longer than this is logged in pieces.
constexpr size_t kMaxOutputLine = 4096;

std::string Errno(std::string_view call, int error) {
  return absl::StrCat(std::string(call), ": ", std::strerror(error));
}

std::string HowItEnded(int wstatus) {
  if (WIFSIGNALED(wstatus)) {
    return absl::StrCat("killed by signal ", WTERMSIG(wstatus), " (",
                        strsignal(WTERMSIG(wstatus)), ")");
  }
  if (WIFEXITED(wstatus))
    return absl::StrCat("exited with status ", WEXITSTATUS(wstatus));
  return "ended";
}

// An idle worker has nothing to say: anything readable, or a hang-up, means
// it died (or misbehaved) between shares.
bool DiedIdle(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) != 0;
}

// What a worker gets for an environment: nothing of the server's (which
// holds DOCSHARE_ADMIN_TOKEN and DOCSHARE_TOKEN_SECRET in a typical
// deployment), only the sanitizers' options when a sanitizer build runs
// (they configure the runtime, and hold no secret).
std::vector<std::string> WorkerEnvironment() {
  std::vector<std::string> env;
  for (const char* name :
       {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"}) {
    if (const char* value = std::getenv(name))
      env.push_back(absl::StrCat(name, "=", value));
  }
  return env;
}

// posix_spawn with the child's socket as fd 3, `output` as its stdout and
// stderr, and nothing else inherited (every fd of the server is
// close-on-exec, and the worker closes any that is not), default signal
// handling and an empty signal mask (the server blocks SIGTERM for sigwait),
// in its own process group so a terminal's ^C reaches the server, which
// drains, and not the workers.
absl::StatusOr<pid_t> SpawnProcess(const std::string& path, int child_fd, int output) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&actions, child_fd, kRenderWorkerFd);
  posix_spawn_file_actions_adddup2(&actions, output, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, output, STDERR_FILENO);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(
      &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::string arg0 = path;
  char* argv[] = {arg0.data(), nullptr};
  std::vector<std::string> env = WorkerEnvironment();
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int error = posix_spawn(&pid, path.c_str(), &actions, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (error != 0) return absl::InternalError(Errno("cannot start " + path, error));
  return pid;
}

// "warn text" -> (kWarn, "text"): the worker's own lines name their level
// (render_worker.cc); anything else a library printed is a warning.
std::pair<LogLevel, std::string_view> SplitLevel(std::string_view line) {
  for (auto [name, level] :
       {std::pair{"debug ", LogLevel::kDebug}, std::pair{"info ", LogLevel::kInfo},
        std::pair{"warn ", LogLevel::kWarn}, std::pair{"error ", LogLevel::kError}}) {
    if (line.starts_with(name)) return {level, line.substr(std::strlen(name))};
  }
  return {LogLevel::kWarn, line};
}

}  // namespace

std::string DefaultRenderWorkerPath() {
  std::error_code error;
  const std::filesystem::path self =
      std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "docshare-render-worker";
  return (self.parent_path() / "docshare-render-worker").string();
}

IsolatedRenderer::IsolatedRenderer(RenderOptions options, IsolationOptions isolation,
                                   Observer& observer)
    : options_(options), isolation_(std::move(isolation)), observer_(observer) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    // Without it no worker output is read and no idle death noticed: a
    // broken host, not a state to serve in.
    ProcessLogger().Log(LogLevel::kError, "render_supervisor_failed",
                        {{"message", Errno("eventfd", errno)}});
    std::abort();
  }
  workers_.resize(std::max(1, isolation_.workers));
  for (size_t i = 0; i < workers_.size(); ++i) {
    // A worker that cannot start now is retried by the first share it gets.
    if (absl::Status s = Spawn(workers_[i]); !s.ok()) {
      ProcessLogger().Warn("render_worker_start_failed",
                           {{"message", std::string(s.message())}});
    }
    absl::MutexLock lock(&mu_);
    free_.push_back(static_cast<int>(i));
  }
  supervisor_ = std::thread([this] { Supervise(); });
}

IsolatedRenderer::~IsolatedRenderer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
  supervisor_.join();
  for (Worker& w : workers_) {
    if (w.pid > 0) {
      kill(w.pid, SIGKILL);
      waitpid(w.pid, nullptr, 0);
    }
    if (w.fd >= 0) close(w.fd);
  }
  absl::MutexLock lock(&mu_);
  for (const Output& o : new_outputs_) close(o.fd);
  close(wake_fd_);
}

absl::Status IsolatedRenderer::Spawn(Worker& w) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return absl::InternalError(Errno("socketpair", errno));
  }
  int output[2];
  if (pipe2(output, O_CLOEXEC) != 0) {
    const int error = errno;
    close(fds[0]);
    close(fds[1]);
    return absl::InternalError(Errno("pipe2", error));
  }
  absl::StatusOr<pid_t> pid = SpawnProcess(isolation_.worker_path, fds[1], output[1]);
  close(fds[1]);
  close(output[1]);
  if (!pid.ok()) {
    close(fds[0]);
    close(output[0]);
    return pid.status();
  }
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  {
    absl::MutexLock lock(&mu_);
    w.pid = *pid;
    new_outputs_.push_back({*pid, output[0]});
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
  w.fd = fds[0];
  w.ready = false;
  // Fits the socket buffer: never blocks.
  WorkerInit init{options_, isolation_.memory_limit,
                  static_cast<uint32_t>(absl::ToInt64Seconds(
                      absl::Ceil(isolation_.timeout, absl::Seconds(1)))) +
                      1,
                  isolation_.heap_keep_bytes};
  return WriteParts(w.fd, {EncodeInit(init)}, absl::Now() + absl::Seconds(1));
}

std::string IsolatedRenderer::Retire(Worker& w, std::string_view reason) {
  std::string how = "not running";
  const pid_t pid = w.pid;
  if (pid > 0) {
    kill(pid, SIGKILL);  // harmless if it already died
    int wstatus = 0;
    how =
        waitpid(pid, &wstatus, 0) == pid ? HowItEnded(wstatus) : Errno("waitpid", errno);
  }
  if (w.fd >= 0) close(w.fd);
  {
    absl::MutexLock lock(&mu_);
    w.pid = -1;
  }
  w.fd = -1;
  w.ready = false;
  observer_.RenderWorkerLost(reason);
  observer_.RenderWorkerEnded(static_cast<int>(pid), reason, how);
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
          observer_.RenderWorkerEnded(-1, "start", why);
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
      frame.ok() ? DecodeResponse(*frame, header, options_) : frame.status();
  if (response.ok()) return *std::move(response);

  const std::string_view mime = FileTypeMime(header.type);
  if (absl::IsDeadlineExceeded(response.status())) {
    Retire(w, "timeout");
    (void)Spawn(w);  // the next share waits for its Ready
    return Reject(RejectReason::kCorruptImage, mime,
                  absl::StrCat("rendering took longer than ",
                               absl::ToInt64Seconds(isolation_.timeout), " s"));
  }
  // A whole frame the server refuses is a worker that lies (or was taken
  // over); a frame over the size limit, one that floods; anything else, a
  // worker that died or hung up mid-render.
  const std::string_view reason = frame.ok() ? "bad_reply"
                                  : absl::IsResourceExhausted(frame.status()) ? "protocol"
                                                                              : "crashed";
  if (frame.ok()) {
    ProcessLogger().Warn("render_worker_bad_reply",
                         {{"document_id", CurrentLogDocument()},
                          {"message", std::string(response.status().message())}});
  }
  Retire(w, reason);
  (void)Spawn(w);
  return Reject(RejectReason::kCorruptImage, mime,
                "the image could not be decoded safely");
}

absl::StatusOr<Renditions> IsolatedRenderer::Render(std::string_view bytes,
                                                    const ImageHeader& header) {
  const int slot = Acquire();
  {
    absl::MutexLock lock(&mu_);
    workers_[slot].document = CurrentLogDocument();
  }
  absl::StatusOr<Renditions> result = RenderOn(workers_[slot], bytes, header);
  Release(slot);
  return result;
}

int IsolatedRenderer::Acquire() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](std::vector<int>* free) { return !free->empty(); }, &free_));
  const int slot = free_.back();
  free_.pop_back();
  return slot;
}

void IsolatedRenderer::Release(int slot) {
  absl::MutexLock lock(&mu_);
  free_.push_back(slot);
}

void IsolatedRenderer::Supervise() {
  struct Reading {
    pid_t pid;
    std::string partial;  // a line not ended yet
  };
  std::map<int, Reading> outputs;  // by fd
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      for (const Output& o : new_outputs_) outputs[o.fd] = {o.pid, ""};
      new_outputs_.clear();
    }
    std::vector<pollfd> polled{{wake_fd_, POLLIN, 0}};
    for (const auto& [fd, reading] : outputs) polled.push_back({fd, POLLIN, 0});
    if (poll(polled.data(), polled.size(), -1) < 0) {
      if (errno == EINTR) continue;
      ProcessLogger().Log(LogLevel::kError, "render_supervisor_failed",
                          {{"message", Errno("poll", errno)}});
      std::abort();  // a worker's output would block it, its death go unseen
    }
    if (polled[0].revents != 0) {
      uint64_t count;
      (void)!read(wake_fd_, &count, sizeof count);
    }
    for (size_t i = 1; i < polled.size(); ++i) {
      if (polled[i].revents == 0) continue;
      const int fd = polled[i].fd;
      Reading& reading = outputs[fd];
      char buf[4096];
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        reading.partial.append(buf, static_cast<size_t>(n));
        for (size_t end; (end = reading.partial.find('\n')) != std::string::npos;) {
          Relay(reading.pid, std::string_view(reading.partial).substr(0, end));
          reading.partial.erase(0, end + 1);
        }
        while (reading.partial.size() >= kMaxOutputLine) {
          Relay(reading.pid, std::string_view(reading.partial).substr(0, kMaxOutputLine));
          reading.partial.erase(0, kMaxOutputLine);
        }
        continue;
      }
      // The worker exited (or closed both its stdout and stderr).
      if (!reading.partial.empty()) Relay(reading.pid, reading.partial);
      const pid_t pid = reading.pid;
      close(fd);
      outputs.erase(fd);
      Exited(pid);
    }
  }
  for (const auto& [fd, reading] : outputs) close(fd);
}

void IsolatedRenderer::Relay(pid_t pid, std::string_view line) {
  // One JSON line whatever the worker wrote: no terminal control, no
  // invalid UTF-8 (a compromised worker controls these bytes).
  std::string text(line);
  for (char& c : text) {
    if ((c < 0x20 && c != '\t') || static_cast<unsigned char>(c) >= 0x7F) c = '?';
  }
  if (text.empty()) return;
  std::string document;
  {
    absl::MutexLock lock(&mu_);
    for (const Worker& w : workers_) {
      if (w.pid == pid) document = w.document;
    }
  }
  const auto [level, message] = SplitLevel(text);
  observer_.RenderWorkerOutput(static_cast<int>(pid), level, message, document);
}

void IsolatedRenderer::Exited(pid_t pid) {
  int slot = -1;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (workers_[*it].pid == pid) {
        slot = *it;
        free_.erase(it);
        break;
      }
    }
  }
  // Busy: its render sees the socket close and replaces it. Not found: it
  // was already retired.
  if (slot < 0) return;
  Worker& w = workers_[slot];
  // One that never answered Ready did not start: no respawn loop, the next
  // share tries again. One that did (its Ready may still wait unread) died
  // idle and is replaced now.
  if (!w.ready && w.fd >= 0) {
    absl::StatusOr<std::string> frame =
        ReadFrame(w.fd, absl::Now(), kMaxResponseFrameBytes);
    w.ready = frame.ok() && DecodeReady(*frame).ok();
  }
  if (!w.ready) {
    Retire(w, "start");
  } else {
    Retire(w, "idle");
    if (absl::Status s = Spawn(w); !s.ok()) {
      ProcessLogger().Warn("render_worker_start_failed",
                           {{"message", std::string(s.message())}});
    }
  }
  Release(slot);
}

std::vector<pid_t> IsolatedRenderer::worker_pids() const {
  absl::MutexLock lock(&mu_);
  std::vector<pid_t> pids;
  for (const Worker& w : workers_) pids.push_back(w.pid);
  return pids;
}

int IsolatedRenderer::busy() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(workers_.size() - free_.size());
}

}  // namespace docshare
