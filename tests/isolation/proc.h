#ifndef DOCSHARE_TESTS_ISOLATION_PROC_H_
#define DOCSHARE_TESTS_ISOLATION_PROC_H_

// What /proc says about a worker process, and a bounded wait on a condition.

#include <sys/syscall.h>
#include <sys/types.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace docshare::testing {

// The value of `key` in /proc/<pid>/status ("Seccomp" -> "2"), or "".
inline std::string ProcStatus(pid_t pid, const std::string& key) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with(key + ":")) {
      const size_t value = line.find_first_not_of(" \t", key.size() + 1);
      return value == std::string::npos ? "" : line.substr(value);
    }
  }
  return "";
}

// Minor page faults of `pid` so far (/proc/<pid>/stat's minflt), or -1.
inline long ProcMinorFaults(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t after_name = line.rfind(')');  // the name may hold spaces
  if (after_name == std::string::npos) return -1;
  std::istringstream fields(line.substr(after_name + 2));
  std::string field;
  // state ppid pgrp session tty_nr tpgid flags minflt: the 8th after the name.
  for (int i = 0; i < 8 && fields >> field; ++i) {
  }
  return fields ? std::stol(field) : -1;
}

// The line of /proc/<pid>/limits that starts with `name` ("Max processes").
inline std::string ProcLimit(pid_t pid, const std::string& name) {
  std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
  for (std::string line; std::getline(limits, line);) {
    if (line.starts_with(name)) return line;
  }
  return "";
}

// The worker's main thread is in poll(2) for a request: it has written its Ready
// (it enters the sandbox first, so Seccomp 2 alone comes a little earlier).
inline bool WaitsForARequest(pid_t pid) {
  std::ifstream syscall("/proc/" + std::to_string(pid) + "/syscall");
  long nr = -1;
  syscall >> nr;
#ifdef SYS_poll
  if (nr == SYS_poll) return true;
#endif
  return nr == SYS_ppoll;
}

// Polls `done` every 5 ms for at most `limit`.
inline bool WaitFor(const std::function<bool()>& done,
                    absl::Duration limit = absl::Seconds(20)) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return done();
}

}  // namespace docshare::testing

#endif  // DOCSHARE_TESTS_ISOLATION_PROC_H_
