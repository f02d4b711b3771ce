#ifndef DOCSHARE_PIPELINE_WORKER_SANDBOX_H_
#define DOCSHARE_PIPELINE_WORKER_SANDBOX_H_

// The render worker's sandbox (issue 12, "Decoder sandbox"). Code that a
// decoder exploit gets running in a worker finds: an empty environment (the
// server passes none of its own: no token, no secret), no new privileges, a
// seccomp allow-list (libseccomp) of what decoding needs, and limits on
// memory, processes and CPU.

#include <cstdint>

#include "absl/status/status.h"

namespace docshare {

// Applies, to the whole process (every thread), for good:
// - PR_SET_NO_NEW_PRIVS;
// - a seccomp filter whose default is EPERM. Allowed: memory, futexes,
//   signals to itself, time, I/O on descriptors it already holds (its
//   socket, stderr), getrusage/prlimit, and clone of threads. Refused: open
//   of any file (so not /proc/<server>/environ nor a mounted secret),
//   socket, connect, exec, fork/vfork/clone of processes, ptrace,
//   process_vm_readv, kill of another process. clone3 answers ENOSYS so
//   glibc falls back to clone, whose flags the filter can see.
// Call it after libvips has started and before the first untrusted byte.
absl::Status EnterWorkerSandbox();

// RLIMIT_CPU for the next render: its soft limit `seconds` of CPU beyond
// what the process used so far (SIGXCPU ends the worker past it).
absl::Status LimitCpuForNextRender(uint32_t seconds);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_WORKER_SANDBOX_H_
