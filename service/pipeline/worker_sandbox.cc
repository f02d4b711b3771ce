#include "service/pipeline/worker_sandbox.h"

#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"

namespace docshare {
namespace {

absl::Status Errno(std::string_view call) {
  return absl::InternalError(absl::StrCat(std::string(call), ": ", std::strerror(errno)));
}

// The syscalls decoding and the wire need, on any architecture libseccomp
// knows (a name the architecture lacks is skipped).
constexpr const char* kAllowed[] = {
    // memory
    "brk",
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "membarrier",
    // threads and their synchronization
    "futex",
    "futex_waitv",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "set_tid_address",
    "sched_yield",
    "sched_getaffinity",
    "gettid",
    // signals (to itself: see kill below)
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "restart_syscall",
    // time
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "nanosleep",
    "gettimeofday",
    "times",
    "pause",
    // descriptors it already holds: the socket and stderr
    "read",
    "readv",
    "write",
    "writev",
    "pread64",
    "pwrite64",
    "lseek",
    "close",
    "fstat",
    "newfstatat",
    "statx",
    "fcntl",
    "poll",
    "ppoll",
    "recvfrom",
    "recvmsg",
    "sendto",
    "sendmsg",
    "eventfd2",
    // about itself
    "getpid",
    "getppid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getrusage",
    "getrlimit",
    "prlimit64",
    "getrandom",
    "uname",
    "sysinfo",
    "prctl",
    // the end
    "exit",
    "exit_group",
};

}  // namespace

absl::Status EnterWorkerSandbox() {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Errno("PR_SET_NO_NEW_PRIVS");
  // No RLIMIT_NPROC: it counts every task of the uid on the host, so in a container
  // another pod or docshare-cli of uid 10001 took its headroom and libvips could not
  // start its threads (the image smoke test showed it). The clone rule below is what
  // refuses new processes.

  std::unique_ptr<void, void (*)(scmp_filter_ctx)> ctx(
      seccomp_init(SCMP_ACT_ERRNO(EPERM)), seccomp_release);
  if (!ctx) return absl::InternalError("seccomp_init failed");
  auto failed = [](const char* what, int rc) {
    return absl::InternalError(absl::StrCat("seccomp ", what, ": ", std::strerror(-rc)));
  };
  // Every thread (the watchdog too), not only the calling one.
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1); rc != 0) {
    return failed("TSYNC", rc);
  }
  for (const char* name : kAllowed) {
    const int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, nr, 0); rc != 0) {
      return failed(name, rc);
    }
  }
  // Threads only: a clone without CLONE_THREAD is a new process.
  if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
      rc != 0) {
    return failed("clone", rc);
  }
  if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
      rc != 0) {
    return failed("clone3", rc);
  }
  // Signals to itself only (abort() raises SIGABRT with tgkill).
  const auto self = static_cast<scmp_datum_t>(getpid());
  for (int nr : {SCMP_SYS(kill), SCMP_SYS(tgkill)}) {
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, nr, 1,
                                  SCMP_A0(SCMP_CMP_EQ, self));
        rc != 0) {
      return failed("kill", rc);
    }
  }
  if (int rc = seccomp_load(ctx.get()); rc != 0) return failed("load", rc);
  return absl::OkStatus();
}

absl::Status LimitCpuForNextRender(uint32_t seconds) {
  if (seconds == 0) return absl::OkStatus();
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return Errno("getrusage");
  const double used = usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
                      (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  rlimit cpu{};
  if (getrlimit(RLIMIT_CPU, &cpu) != 0) return Errno("getrlimit(RLIMIT_CPU)");
  cpu.rlim_cur = static_cast<rlim_t>(std::ceil(used)) + seconds;
  if (cpu.rlim_max != RLIM_INFINITY && cpu.rlim_cur > cpu.rlim_max) {
    cpu.rlim_cur = cpu.rlim_max;
  }
  if (setrlimit(RLIMIT_CPU, &cpu) != 0) return Errno("setrlimit(RLIMIT_CPU)");
  return absl::OkStatus();
}

}  // namespace docshare
