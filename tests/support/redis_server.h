#ifndef DOCSHARE_TESTS_SUPPORT_REDIS_SERVER_H_
#define DOCSHARE_TESTS_SUPPORT_REDIS_SERVER_H_

// A real redis-server on a free loopback port, owned by a test: no
// persistence, stopped (SIGTERM, then SIGKILL) when destroyed.

#include <sys/types.h>

#include <string>
#include <vector>

namespace docshare::testing {

class RedisServer {
 public:
  RedisServer();  // picks a free port and starts; check ok()
  // With more redis-server arguments (--requirepass, --tls-port ...). PING on
  // the plain port answering NOAUTH counts as up.
  explicit RedisServer(std::vector<std::string> extra_args);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  bool ok() const { return pid_ > 0; }
  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  // Stops the server (its data is gone: no persistence) / starts it again on
  // the same port. Both wait, bounded, until it stops or answers PING.
  void Stop();
  bool Start();
  // SIGSTOP / SIGCONT: connections stay open, and nothing is answered.
  void Pause();
  void Resume();
  // Runs a command through redis-cli; returns its output.
  std::string Cli(const std::string& args) const;

 private:
  bool Ping() const;
  int port_ = 0;
  pid_t pid_ = -1;
  std::vector<std::string> extra_args_;
};

// A loopback TCP port nothing listens on right now.
int FreePort();

// SIGTERM, up to 5 s for the process to exit, then SIGKILL; reaps it and
// sets `pid` to -1. Nothing for a pid <= 0.
void StopProcess(pid_t& pid);

}  // namespace docshare::testing

#endif  // DOCSHARE_TESTS_SUPPORT_REDIS_SERVER_H_
