#include "service/metrics/metrics.h"

#include <string>

namespace docshare {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Counter;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Registry;

constexpr std::array<std::string_view, 4> kStageNames = {"sniff", "guard", "render",
                                                         "publish"};

Counter& NewCounter(Registry& r, const std::string& name, const std::string& help) {
  return BuildCounter().Name(name).Help(help).Register(r).Add({});
}
Gauge& NewGauge(Registry& r, const std::string& name, const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(r).Add({});
}
Histogram& NewHistogram(Registry& r, const std::string& name, const std::string& help) {
  return BuildHistogram().Name(name).Help(help).Register(r).Add({}, DurationBuckets());
}

}  // namespace

const Histogram::BucketBoundaries& DurationBuckets() {
  static const Histogram::BucketBoundaries kBuckets = {
      .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30};
  return kBuckets;
}

Metrics::Metrics(Registry& r)
    : shares_family_(
          BuildCounter()
              .Name("docshare_shares_total")
              .Help("Shares that reached a verdict, by result and sniffed type.")
              .Register(r)),
      rejects_family_(BuildCounter()
                          .Name("docshare_rejects_total")
                          .Help("Rejected shares by reject reason.")
                          .Register(r)),
      stage_family_(BuildHistogram()
                        .Name("docshare_stage_duration_seconds")
                        .Help("Time spent in each stage of the share pipeline.")
                        .Register(r)),
      received_bytes_(NewCounter(r, "docshare_received_bytes_total",
                                 "Upload bytes received by ShareDocument.")),
      preview_bytes_(NewCounter(r, "docshare_preview_bytes_total",
                                "Bytes of previews produced for accepted shares.")),
      share_duration_(NewHistogram(r, "docshare_share_duration_seconds",
                                   "End-to-end time of a share that reached a verdict.")),
      render_queue_depth_(NewGauge(r, "docshare_render_queue_depth",
                                   "Renders waiting for a worker of the render pool.")),
      render_in_flight_(NewGauge(r, "docshare_render_in_flight",
                                 "Renders running on the render pool.")),
      render_shed_(NewCounter(r, "docshare_render_shed_total",
                              "Shares refused because the render pool was full.")),
      sessions_active_(NewGauge(r, "docshare_sessions_active",
                                "Sessions started and not yet ended or expired.")),
      watchers_active_(NewGauge(r, "docshare_watchers_active",
                                "WatchSession streams currently open.")),
      events_delivered_(NewCounter(r, "docshare_events_delivered_total",
                                   "Session events written to watchers.")),
      delivery_latency_(NewHistogram(r, "docshare_delivery_latency_seconds",
                                     "Time from publishing an event to writing it to a "
                                     "watcher.")),
      watcher_overflows_(NewCounter(r, "docshare_watcher_overflows_total",
                                    "Watchers cut off because their queue overflowed.")),
      withdrawals_(
          NewCounter(r, "docshare_withdrawals_total",
                     "Documents withdrawn (a repeated withdrawal not counted).")),
      acknowledgements_family_(
          prometheus::BuildCounter()
              .Name("docshare_acknowledgements_total")
              .Help("Acknowledgements appended, by acknowledgement (displayed, closed); "
                    "repeats not counted.")
              .Register(r)),
      cache_hits_(NewCounter(r, "docshare_preview_cache_hits_total",
                             "Shares whose previews came from the preview cache.")),
      cache_misses_(NewCounter(r, "docshare_preview_cache_misses_total",
                               "Shares whose previews had to be rendered.")),
      retained_preview_bytes_(NewGauge(r, "docshare_retained_preview_bytes",
                                       "Preview bytes held in memory by session logs.")),
      worker_losses_family_(
          prometheus::BuildCounter()
              .Name("docshare_render_worker_losses_total")
              .Help("Render worker processes killed or lost, by reason "
                    "(crashed, timeout, protocol, bad_reply, start, idle).")
              .Register(r)),
      backplane_up_(NewGauge(r, "docshare_backplane_up",
                             "1 while the session backplane is reachable (memory: "
                             "always), 0 while it is not.")),
      session_anomalies_family_(
          prometheus::BuildCounter()
              .Name("docshare_session_anomalies_total")
              .Help("Things the sessions layer never expects (a malformed announcement, "
                    "an undecodable log entry, ...): each is also logged.")
              .Register(r)),
      http_dropped_family_(prometheus::BuildCounter()
                               .Name("docshare_metrics_connections_dropped_total")
                               .Help("Connections to the metrics listener closed before "
                                     "their answer, by reason (timeout, evicted, "
                                     "too_large).")
                               .Register(r)),
      admission_family_(prometheus::BuildCounter()
                            .Name("docshare_admission_refusals_total")
                            .Help("Calls refused with RESOURCE_EXHAUSTED by a budget or "
                                  "cap before they cost anything, by limit.")
                            .Register(r)),
      http2_closed_family_(
          prometheus::BuildCounter()
              .Name("docshare_http2_connections_closed_total")
              .Help("Plaintext gRPC client connections the HTTP/2 frame "
                    "guard closed, by limit (header_block: a CONTINUATION "
                    "flood; resets: rapid reset).")
              .Register(r)),
      inflight_upload_bytes_(NewGauge(r, "docshare_inflight_upload_bytes",
                                      "Upload bytes held in memory (admitted against "
                                      "--max-inflight-upload-bytes).")) {
  for (const char* limit : {"inflight_upload_bytes", "session_watchers", "token_watchers",
                            "check_file_rate", "share_rate", "session_renders"}) {
    admission_family_.Add({{"limit", limit}});
  }
  for (const char* limit : {"header_block", "resets"}) {
    http2_closed_family_.Add({{"limit", limit}});
  }
  for (const char* reason : {"timeout", "evicted", "too_large"}) {
    http_dropped_family_.Add({{"reason", reason}});
  }
  backplane_up_.Set(1);
  for (Acknowledgement ack : {Acknowledgement::kDisplayed, Acknowledgement::kClosed}) {
    acknowledgements_[static_cast<int>(ack)] = &acknowledgements_family_.Add(
        {{"acknowledgement", std::string(AcknowledgementLabel(ack))}});
  }
  for (std::string_view what : kSessionAnomalies) {
    session_anomalies_family_.Add({{"what", std::string(what)}});
  }
  for (const char* reason :
       {"crashed", "timeout", "protocol", "bad_reply", "start", "idle"}) {
    worker_losses_family_.Add({{"reason", reason}});
  }
  for (FileType type :
       {FileType::kUnknown, FileType::kJpeg, FileType::kPng, FileType::kGif}) {
    const std::string label(FileTypeLabel(type));
    accepted_[static_cast<int>(type)] =
        &shares_family_.Add({{"result", "accepted"}, {"type", label}});
    rejected_[static_cast<int>(type)] =
        &shares_family_.Add({{"result", "rejected"}, {"type", label}});
  }
  for (RejectReason reason :
       {RejectReason::kUnsupportedType, RejectReason::kEmptyFile,
        RejectReason::kFileTooLarge, RejectReason::kDimensionsTooLarge,
        RejectReason::kTooManyFrames, RejectReason::kCorruptImage}) {
    rejects_[static_cast<int>(reason)] =
        &rejects_family_.Add({{"reason", std::string(RejectReasonLabel(reason))}});
  }
  for (size_t i = 0; i < kStageNames.size(); ++i) {
    stage_[i] =
        &stage_family_.Add({{"stage", std::string(kStageNames[i])}}, DurationBuckets());
  }
}

void Metrics::BytesReceived(uint64_t bytes) {
  received_bytes_.Increment(static_cast<double>(bytes));
}

void Metrics::StageDone(std::string_view stage, absl::Duration took) {
  for (size_t i = 0; i < kStageNames.size(); ++i) {
    if (kStageNames[i] == stage) {
      stage_[i]->Observe(absl::ToDoubleSeconds(took));
      return;
    }
  }
  // A stage this struct does not know yet: still counted (the names come from
  // the pipeline's code, never from a request, so the set stays small).
  stage_family_.Add({{"stage", std::string(stage)}}, DurationBuckets())
      .Observe(absl::ToDoubleSeconds(took));
}

void Metrics::ShareDone(FileType type, RejectReason reason, bool accepted,
                        absl::Duration took) {
  const int t = static_cast<int>(type);
  if (accepted) {
    accepted_[t]->Increment();
  } else {
    rejected_[t]->Increment();
    if (reason != RejectReason::kNone) rejects_[static_cast<int>(reason)]->Increment();
  }
  share_duration_.Observe(absl::ToDoubleSeconds(took));
}

void Metrics::PreviewBytes(uint64_t bytes) {
  preview_bytes_.Increment(static_cast<double>(bytes));
}

void Metrics::CacheLookup(bool hit) { (hit ? cache_hits_ : cache_misses_).Increment(); }

void Metrics::RenderQueue(int depth, int in_flight) {
  render_queue_depth_.Set(depth);
  render_in_flight_.Set(in_flight);
}

void Metrics::RenderShed() { render_shed_.Increment(); }

void Metrics::SessionsActive(int64_t count) {
  sessions_active_.Set(static_cast<double>(count));
}

void Metrics::WatchersActive(int64_t delta) {
  if (delta >= 0) {
    watchers_active_.Increment(static_cast<double>(delta));
  } else {
    watchers_active_.Decrement(static_cast<double>(-delta));
  }
}

void Metrics::RetainedPreviewBytes(int64_t bytes) {
  retained_preview_bytes_.Set(static_cast<double>(bytes));
}

void Metrics::EventDelivered(absl::Duration since_publish) {
  events_delivered_.Increment();
  delivery_latency_.Observe(absl::ToDoubleSeconds(since_publish));
}

void Metrics::WatcherOverflow() { watcher_overflows_.Increment(); }

void Metrics::DocumentWithdrawn() { withdrawals_.Increment(); }

void Metrics::DocumentAcknowledged(Acknowledgement acknowledgement) {
  if (prometheus::Counter* c = acknowledgements_[static_cast<int>(acknowledgement)]) {
    c->Increment();
  }
}

void Metrics::RenderWorkerLost(std::string_view reason) {
  worker_losses_family_.Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::BackplaneReachable(std::string_view, bool reachable, std::string_view) {
  backplane_up_.Set(reachable ? 1 : 0);
}

void Metrics::SessionAnomaly(std::string_view what, std::string_view) {
  session_anomalies_family_.Add({{"what", std::string(what)}}).Increment();
}

void Metrics::AdmissionRefused(std::string_view limit) {
  admission_family_.Add({{"limit", std::string(limit)}}).Increment();
}

void Metrics::Http2ConnectionClosed(std::string_view limit) {
  http2_closed_family_.Add({{"limit", std::string(limit)}}).Increment();
}

void Metrics::InflightUploadBytes(uint64_t bytes) {
  inflight_upload_bytes_.Set(static_cast<double>(bytes));
}

void Metrics::MetricsConnectionDropped(std::string_view reason) {
  http_dropped_family_.Add({{"reason", std::string(reason)}}).Increment();
}

}  // namespace docshare
