#ifndef DOCSHARE_METRICS_HTTP_SERVER_H_
#define DOCSHARE_METRICS_HTTP_SERVER_H_

// The one HTTP listener of the process (--metrics-address):
//   /metrics  Prometheus text exposition of every collectable
//   /healthz  200 "ok" while the process runs (liveness)
//   /readyz   200 "ready" when `ready()` says so, else 503 (readiness)
//
// One thread polls every connection (non-blocking sockets), so a slow client
// costs a file descriptor, never a thread: slowloris cannot starve /healthz
// (civetweb, used before, gave each connection one of 4 threads for up to
// 10 s). Each connection has `request_timeout` from accept to its response
// sent, and at most `max_connections` are open: a new one evicts the oldest.
// IPv4 and IPv6: "[::]:P" listens on both (dual-stack) where the machine has
// IPv6 and falls back to 0.0.0.0 where it has not; "[::1]:P" is IPv6 only.
// (Debian's civetweb is built without IPv6, which is another reason it went.)

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prometheus/collectable.h"

namespace docshare {

class MetricsHttpServer {
 public:
  struct Options {
    std::string address;  // "host:port", "[v6]:port"; port 0 picks a free port
    std::vector<std::shared_ptr<const prometheus::Collectable>> collectables = {};
    std::function<bool()> ready = {};  // on the server's thread; unset: never ready
    absl::Duration request_timeout = absl::Seconds(5);
    int max_connections = 256;
    // A connection closed before its answer: "timeout" (request_timeout
    // passed), "evicted" (max_connections reached), "too_large" (a request
    // head over 8 KiB). On the server's thread.
    std::function<void(std::string_view reason)> dropped = {};
  };

  // Binds and serves, or says why it could not (e.g. the port is taken).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(Options options);
  // Stops at once: open connections are closed, the thread joined.
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The bound port (the real one when the address asked for port 0).
  int port() const { return port_; }
  // True when the listening socket accepts IPv6 (and, dual-stack, IPv4).
  bool ipv6() const { return ipv6_; }

 private:
  struct Connection;
  explicit MetricsHttpServer(Options options) : options_(std::move(options)) {}
  void Loop();
  // The whole response to one request head.
  std::string Respond(std::string_view head) const;
  void Drop(std::string_view reason) const;

  Options options_;
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};  // a pipe: the destructor writes to stop the loop
  int port_ = 0;
  bool ipv6_ = false;
  std::thread thread_;
};

}  // namespace docshare

#endif  // DOCSHARE_METRICS_HTTP_SERVER_H_
