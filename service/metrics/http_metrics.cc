#include "service/metrics/http_metrics.h"

#include <string>

#include "service/metrics/metrics.h"

namespace docshare {

HttpMetrics::HttpMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("docshare_http_requests_total")
                    .Help("HTTP requests answered, by route and status code")
                    .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("docshare_http_request_duration_seconds")
                    .Help("Time from a request's headers to its answer's last byte")
                    .Register(registry)),
      connections_(prometheus::BuildGauge()
                       .Name("docshare_http_connections_active")
                       .Help("Open HTTP connections")
                       .Register(registry)
                       .Add({})),
      streams_(prometheus::BuildGauge()
                   .Name("docshare_http_sse_streams_active")
                   .Help("Open Server-Sent Events streams")
                   .Register(registry)
                   .Add({})),
      preview_bytes_(prometheus::BuildCounter()
                         .Name("docshare_http_preview_bytes_total")
                         .Help("Preview bytes sent by HTTP (GET bodies)")
                         .Register(registry)
                         .Add({})),
      not_modified_(prometheus::BuildCounter()
                        .Name("docshare_http_preview_not_modified_total")
                        .Help("Preview fetches answered 304 Not Modified")
                        .Register(registry)
                        .Add({})),
      anomalies_(prometheus::BuildCounter()
                     .Name("docshare_http_anomalies_total")
                     .Help("Things that should not happen on the HTTP side, by kind")
                     .Register(registry)) {}

void HttpMetrics::RequestDone(std::string_view route, int status, absl::Duration took) {
  // Family::Add returns the existing series for known labels: the routes are a
  // fixed set and the codes few, so the series stay bounded.
  const std::string label(route);
  requests_.Add({{"route", label}, {"code", std::to_string(status)}}).Increment();
  duration_.Add({{"route", label}}, DurationBuckets())
      .Observe(absl::ToDoubleSeconds(took));
}

void HttpMetrics::ConnectionsActive(int delta) { connections_.Increment(delta); }

void HttpMetrics::StreamsActive(int delta) { streams_.Increment(delta); }

void HttpMetrics::PreviewBytesServed(uint64_t bytes) {
  preview_bytes_.Increment(static_cast<double>(bytes));
}

void HttpMetrics::PreviewNotModified() { not_modified_.Increment(); }

void HttpMetrics::Anomaly(std::string_view what) {
  anomalies_.Add({{"kind", std::string(what)}}).Increment();
}

}  // namespace docshare
