#ifndef DOCSHARE_METRICS_HTTP_METRICS_H_
#define DOCSHARE_METRICS_HTTP_METRICS_H_

#include <string_view>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "service/http/http_observer.h"

namespace docshare {

// The HTTP listener's metrics:
//   docshare_http_requests_total{route, code}
//   docshare_http_request_duration_seconds{route}
//   docshare_http_connections_active
//   docshare_http_sse_streams_active
//   docshare_http_preview_bytes_total, docshare_http_preview_not_modified_total
//   docshare_http_anomalies_total{kind}
class HttpMetrics final : public HttpObserver {
 public:
  explicit HttpMetrics(prometheus::Registry& registry);
  HttpMetrics(const HttpMetrics&) = delete;
  HttpMetrics& operator=(const HttpMetrics&) = delete;

  void RequestDone(std::string_view route, int status, absl::Duration took) override;
  void ConnectionsActive(int delta) override;
  void StreamsActive(int delta) override;
  void PreviewBytesServed(uint64_t bytes) override;
  void PreviewNotModified() override;
  void Anomaly(std::string_view what) override;

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Gauge& connections_;
  prometheus::Gauge& streams_;
  prometheus::Counter& preview_bytes_;
  prometheus::Counter& not_modified_;
  prometheus::Family<prometheus::Counter>& anomalies_;
};

}  // namespace docshare

#endif  // DOCSHARE_METRICS_HTTP_METRICS_H_
