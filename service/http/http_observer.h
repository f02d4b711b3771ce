#ifndef DOCSHARE_HTTP_HTTP_OBSERVER_H_
#define DOCSHARE_HTTP_HTTP_OBSERVER_H_

#include <cstdint>
#include <string_view>

#include "absl/time/time.h"

namespace docshare {

// What the HTTP listener reports; service/metrics implements it with
// Prometheus (HttpMetrics). Every hook has a no-op default.
class HttpObserver {
 public:
  virtual ~HttpObserver() = default;
  // One per answered request. `route` is a fixed label ("check", "client_js",
  // "preflight", "unknown"), never a path: paths carry session ids.
  virtual void RequestDone(std::string_view /*route*/, int /*status*/,
                           absl::Duration /*took*/) {}
  virtual void ConnectionsActive(int /*delta*/) {}
  // SSE streams open.
  virtual void StreamsActive(int /*delta*/) {}
  // Preview bytes sent (GET bodies), and answers 304 Not Modified.
  virtual void PreviewBytesServed(uint64_t /*bytes*/) {}
  virtual void PreviewNotModified() {}
  // "Can't happen" on the HTTP side (logged and counted).
  virtual void Anomaly(std::string_view /*what*/) {}
};

}  // namespace docshare

#endif  // DOCSHARE_HTTP_HTTP_OBSERVER_H_
