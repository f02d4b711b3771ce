#ifndef DOCSHARE_METRICS_METRICS_H_
#define DOCSHARE_METRICS_METRICS_H_

// The domain's Observer, implemented with Prometheus. Every docshare_* metric
// is defined in the constructor; nothing else in the service touches a
// Prometheus type (the gRPC interceptor has its own, transport-side).

#include <array>
#include <cstdint>
#include <string_view>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "service/common/observer.h"
#include "service/common/types.h"

namespace docshare {

// Milliseconds to tens of seconds: a CheckFile-sized sniff up to a slow render.
const prometheus::Histogram::BucketBoundaries& DurationBuckets();

class Metrics final : public Observer {
 public:
  explicit Metrics(prometheus::Registry& registry);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void BytesReceived(uint64_t bytes) override;
  void StageDone(std::string_view stage, absl::Duration took) override;
  void ShareDone(FileType type, RejectReason reason, bool accepted,
                 absl::Duration took) override;
  void PreviewBytes(uint64_t bytes) override;
  void CacheLookup(bool hit) override;
  void RenderQueue(int depth, int in_flight) override;
  void RenderShed() override;

  void SessionsActive(int64_t count) override;
  void WatchersActive(int64_t delta) override;
  void RetainedPreviewBytes(int64_t bytes) override;
  void EventDelivered(absl::Duration since_publish) override;
  void WatcherOverflow() override;
  void DocumentWithdrawn() override;
  void DocumentAcknowledged(Acknowledgement acknowledgement) override;
  void RenderWorkerLost(std::string_view reason) override;
  void BackplaneReachable(std::string_view address, bool reachable,
                          std::string_view why) override;
  void SessionAnomaly(std::string_view what, std::string_view detail) override;
  void AdmissionRefused(std::string_view limit) override;
  void Http2ConnectionClosed(std::string_view limit) override;
  void InflightUploadBytes(uint64_t bytes) override;

  // Not the domain's: the metrics listener closed a connection before its
  // answer ("timeout", "evicted", "too_large"; see MetricsHttpServer).
  void MetricsConnectionDropped(std::string_view reason);

 private:
  // Label values are enums, so every series is created up front (dashboards
  // see zeros, not gaps) and a hook is an array index, never a map lookup.
  static constexpr int kFileTypes = 4;      // FileType
  static constexpr int kRejectReasons = 7;  // RejectReason, kNone unused
  static constexpr int kStages = 4;         // sniff, guard, render, publish

  prometheus::Family<prometheus::Counter>& shares_family_;
  prometheus::Family<prometheus::Counter>& rejects_family_;
  prometheus::Family<prometheus::Histogram>& stage_family_;
  std::array<prometheus::Counter*, kFileTypes> accepted_{};
  std::array<prometheus::Counter*, kFileTypes> rejected_{};
  std::array<prometheus::Counter*, kRejectReasons> rejects_{};
  std::array<prometheus::Histogram*, kStages> stage_{};

  prometheus::Counter& received_bytes_;
  prometheus::Counter& preview_bytes_;
  prometheus::Histogram& share_duration_;
  prometheus::Gauge& render_queue_depth_;
  prometheus::Gauge& render_in_flight_;
  prometheus::Counter& render_shed_;
  prometheus::Gauge& sessions_active_;
  prometheus::Gauge& watchers_active_;
  prometheus::Counter& events_delivered_;
  prometheus::Histogram& delivery_latency_;
  prometheus::Counter& watcher_overflows_;
  prometheus::Counter& withdrawals_;
  prometheus::Family<prometheus::Counter>& acknowledgements_family_;
  std::array<prometheus::Counter*, 3> acknowledgements_{};  // by Acknowledgement
  prometheus::Counter& cache_hits_;
  prometheus::Counter& cache_misses_;
  prometheus::Gauge& retained_preview_bytes_;
  prometheus::Family<prometheus::Counter>& worker_losses_family_;
  prometheus::Gauge& backplane_up_;
  prometheus::Family<prometheus::Counter>& session_anomalies_family_;
  prometheus::Family<prometheus::Counter>& http_dropped_family_;
  prometheus::Family<prometheus::Counter>& admission_family_;
  prometheus::Family<prometheus::Counter>& http2_closed_family_;
  prometheus::Gauge& inflight_upload_bytes_;
};

}  // namespace docshare

#endif  // DOCSHARE_METRICS_METRICS_H_
