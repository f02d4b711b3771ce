#ifndef DOCSHARE_HTTP_HTTP_SERVER_H_
#define DOCSHARE_HTTP_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/http/api.h"

namespace docshare {

struct HttpServerOptions {
  // "host:port", "[v6]:port"; 0.0.0.0 and [::] listen on every address, IPv4
  // and IPv6 (one dual-stack socket). Port 0 picks a free port.
  std::string address;
  std::string tls_cert_file;  // both set: HTTPS (PEM, read at start)
  std::string tls_key_file;
  // A connection idle (or a request stalled) this long is closed.
  absl::Duration idle_timeout = absl::Seconds(60);
  // A streamed response (SSE) gets a comment line at least this often, so
  // proxies keep it open and a vanished client is noticed.
  absl::Duration stream_heartbeat = absl::Seconds(15);
};

// The browsers' listener: Boost.Beast on one Asio event loop thread. A
// connection is a few hundred bytes of state and a socket, never a thread,
// so thousands of long-lived streams (SSE) cost no threads.
class HttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options,
                                                           HttpApi& api);
  ~HttpServer();

  int port() const { return port_; }

  // SIGTERM: stop accepting, answer new requests on open connections 503,
  // end streamed responses (a browser's EventSource reconnects elsewhere),
  // let requests in flight finish until `deadline`, then close everything.
  void Drain(absl::Time deadline);

  // Requests read and not yet answered (tests and drain).
  int in_flight() const;
  // Streamed responses open (SSE).
  int streams() const;

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl, int port);

  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace docshare

#endif  // DOCSHARE_HTTP_HTTP_SERVER_H_
