#ifndef DOCSHARE_METRICS_HTTP_SERVER_H_
#define DOCSHARE_METRICS_HTTP_SERVER_H_

// The one HTTP listener of the process (--metrics-address):
//   /metrics  Prometheus text exposition of every collectable
//   /healthz  200 "ok" while the process runs (liveness)
//   /readyz   200 "ready" when `ready()` says so, else 503 (readiness)
// prometheus::Exposer serves only its own paths, so this drives civetweb
// (the server Exposer itself is built on) directly.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"

struct mg_connection;
struct mg_context;

namespace docshare {

class MetricsHttpServer {
 public:
  struct Options {
    std::string address;  // "host:port"; port 0 picks a free port
    std::vector<std::shared_ptr<const prometheus::Collectable>> collectables = {};
    std::function<bool()> ready = {};  // on civetweb's threads; unset: never ready
    int threads = 4;
  };

  // Binds and serves, or says why it could not (e.g. the port is taken).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(Options options);
  // Stops accepting, waits for requests in progress, joins its threads.
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The bound port (the real one when the address asked for port 0).
  int port() const { return port_; }

 private:
  explicit MetricsHttpServer(Options options);
  static int ServeMetrics(mg_connection* conn, void* self);
  static int ServeHealth(mg_connection* conn, void* self);
  static int ServeReady(mg_connection* conn, void* self);

  Options options_;
  mg_context* context_ = nullptr;
  int port_ = 0;
};

}  // namespace docshare

#endif  // DOCSHARE_METRICS_HTTP_SERVER_H_
