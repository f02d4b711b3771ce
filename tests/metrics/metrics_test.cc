// Each Observer hook moves exactly the series it should, read back from the
// registry the way a scrape reads it.
#include "service/metrics/metrics.h"

#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/metrics/scrape.h"

namespace docshare::testing {
namespace {

class MetricsTest : public ::testing::Test {
 protected:
  std::optional<double> V(const std::string& name, const LabelMap& labels = {}) const {
    return Value(registry_, name, labels);
  }

  prometheus::Registry registry_;
  Metrics metrics_{registry_};
};

TEST_F(MetricsTest, EveryLabelCombinationExistsAtZeroBeforeAnyWork) {
  for (const char* result : {"accepted", "rejected"}) {
    for (const char* type : {"jpeg", "png", "gif", "other"}) {
      EXPECT_EQ(V("docshare_shares_total", {{"result", result}, {"type", type}}), 0.0)
          << result << " " << type;
    }
  }
  for (const char* reason :
       {"unsupported_type", "empty_file", "file_too_large", "dimensions_too_large",
        "too_many_frames", "corrupt_image"}) {
    EXPECT_EQ(V("docshare_rejects_total", {{"reason", reason}}), 0.0) << reason;
  }
  for (const char* stage : {"sniff", "guard", "render", "publish"}) {
    EXPECT_EQ(V("docshare_stage_duration_seconds", {{"stage", stage}}), 0.0) << stage;
  }
  for (const char* name :
       {"docshare_received_bytes_total", "docshare_preview_bytes_total",
        "docshare_share_duration_seconds", "docshare_render_queue_depth",
        "docshare_render_in_flight", "docshare_render_shed_total",
        "docshare_sessions_active", "docshare_watchers_active",
        "docshare_events_delivered_total", "docshare_delivery_latency_seconds",
        "docshare_watcher_overflows_total", "docshare_preview_cache_hits_total",
        "docshare_preview_cache_misses_total", "docshare_retained_preview_bytes"}) {
    EXPECT_EQ(V(name), 0.0) << name;
  }
}

// Issue 12, attack 1: a connection the HTTP/2 frame guard closed, by limit;
// both series exist from the start.
TEST_F(MetricsTest, Http2ConnectionsClosedByTheGuardAreCountedByLimit) {
  EXPECT_EQ(V("docshare_http2_connections_closed_total", {{"limit", "header_block"}}), 0);
  EXPECT_EQ(V("docshare_http2_connections_closed_total", {{"limit", "resets"}}), 0);
  metrics_.Http2ConnectionClosed("resets");
  metrics_.Http2ConnectionClosed("resets");
  metrics_.Http2ConnectionClosed("header_block");
  EXPECT_EQ(V("docshare_http2_connections_closed_total", {{"limit", "header_block"}}), 1);
  EXPECT_EQ(V("docshare_http2_connections_closed_total", {{"limit", "resets"}}), 2);
}

TEST_F(MetricsTest, EveryFamilyHasHelp) {
  for (const prometheus::MetricFamily& family : registry_.Collect()) {
    EXPECT_FALSE(family.help.empty()) << family.name;
  }
}

TEST_F(MetricsTest, AcceptedShareCountsByTypeAndTimesTheShare) {
  metrics_.ShareDone(FileType::kPng, RejectReason::kNone, true, absl::Milliseconds(250));
  metrics_.ShareDone(FileType::kPng, RejectReason::kNone, true, absl::Milliseconds(750));
  metrics_.ShareDone(FileType::kGif, RejectReason::kNone, true, absl::Seconds(2));

  EXPECT_EQ(V("docshare_shares_total", {{"result", "accepted"}, {"type", "png"}}), 2);
  EXPECT_EQ(V("docshare_shares_total", {{"result", "accepted"}, {"type", "gif"}}), 1);
  EXPECT_EQ(V("docshare_shares_total", {{"result", "accepted"}, {"type", "jpeg"}}), 0);
  EXPECT_EQ(V("docshare_shares_total", {{"result", "rejected"}, {"type", "png"}}), 0);
  EXPECT_EQ(V("docshare_share_duration_seconds"), 3);
  EXPECT_DOUBLE_EQ(*HistogramSum(registry_, "docshare_share_duration_seconds"), 3.0);
  for (const char* reason : {"unsupported_type", "corrupt_image"}) {
    EXPECT_EQ(V("docshare_rejects_total", {{"reason", reason}}), 0);
  }
}

TEST_F(MetricsTest, RejectedShareCountsByTypeAndReason) {
  metrics_.ShareDone(FileType::kUnknown, RejectReason::kUnsupportedType, false,
                     absl::Milliseconds(1));
  metrics_.ShareDone(FileType::kJpeg, RejectReason::kCorruptImage, false,
                     absl::Milliseconds(30));
  metrics_.ShareDone(FileType::kJpeg, RejectReason::kCorruptImage, false,
                     absl::Milliseconds(30));
  metrics_.ShareDone(FileType::kGif, RejectReason::kTooManyFrames, false,
                     absl::Milliseconds(2));

  EXPECT_EQ(V("docshare_shares_total", {{"result", "rejected"}, {"type", "other"}}), 1);
  EXPECT_EQ(V("docshare_shares_total", {{"result", "rejected"}, {"type", "jpeg"}}), 2);
  EXPECT_EQ(V("docshare_shares_total", {{"result", "rejected"}, {"type", "gif"}}), 1);
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "unsupported_type"}}), 1);
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "corrupt_image"}}), 2);
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "too_many_frames"}}), 1);
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "empty_file"}}), 0);
  EXPECT_EQ(V("docshare_share_duration_seconds"), 4);
}

TEST_F(MetricsTest, EveryRejectReasonHasItsOwnSeries) {
  int n = 0;
  for (RejectReason reason :
       {RejectReason::kUnsupportedType, RejectReason::kEmptyFile,
        RejectReason::kFileTooLarge, RejectReason::kDimensionsTooLarge,
        RejectReason::kTooManyFrames, RejectReason::kCorruptImage}) {
    ++n;
    for (int i = 0; i < n; ++i) {
      metrics_.ShareDone(FileType::kPng, reason, false, absl::ZeroDuration());
    }
  }
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "unsupported_type"}}), 1);
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "empty_file"}}), 2);
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "file_too_large"}}), 3);
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "dimensions_too_large"}}), 4);
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "too_many_frames"}}), 5);
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "corrupt_image"}}), 6);
  EXPECT_EQ(V("docshare_shares_total", {{"result", "rejected"}, {"type", "png"}}), 21);
}

TEST_F(MetricsTest, StagesAreTimedSeparately) {
  metrics_.StageDone("sniff", absl::Microseconds(200));
  metrics_.StageDone("guard", absl::Microseconds(300));
  metrics_.StageDone("render", absl::Milliseconds(80));
  metrics_.StageDone("render", absl::Milliseconds(120));
  metrics_.StageDone("publish", absl::Microseconds(50));

  EXPECT_EQ(V("docshare_stage_duration_seconds", {{"stage", "sniff"}}), 1);
  EXPECT_EQ(V("docshare_stage_duration_seconds", {{"stage", "guard"}}), 1);
  EXPECT_EQ(V("docshare_stage_duration_seconds", {{"stage", "render"}}), 2);
  EXPECT_EQ(V("docshare_stage_duration_seconds", {{"stage", "publish"}}), 1);
  EXPECT_DOUBLE_EQ(
      *HistogramSum(registry_, "docshare_stage_duration_seconds", {{"stage", "render"}}),
      0.2);
  EXPECT_EQ(V("docshare_share_duration_seconds"), 0) << "a stage is not a share";
}

TEST_F(MetricsTest, DurationBucketsSpanMillisecondsToTensOfSeconds) {
  metrics_.StageDone("sniff", absl::Microseconds(400));
  const auto families = registry_.Collect();
  const prometheus::ClientMetric* sniff =
      FindSeries(families, "docshare_stage_duration_seconds", {{"stage", "sniff"}});
  ASSERT_NE(sniff, nullptr);
  const auto& buckets = sniff->histogram.bucket;
  ASSERT_GE(buckets.size(), 3u);
  EXPECT_DOUBLE_EQ(buckets.front().upper_bound, 0.0005);
  EXPECT_EQ(buckets.front().cumulative_count, 1u) << "400 us lands in the first bucket";
  EXPECT_DOUBLE_EQ(buckets[buckets.size() - 2].upper_bound, 30);
}

TEST_F(MetricsTest, BytesAccumulate) {
  metrics_.BytesReceived(65536);
  metrics_.BytesReceived(1000);
  metrics_.PreviewBytes(4096);
  EXPECT_EQ(V("docshare_received_bytes_total"), 66536);
  EXPECT_EQ(V("docshare_preview_bytes_total"), 4096);
}

TEST_F(MetricsTest, RenderPoolGaugesFollowTheLastReportAndShedsCount) {
  metrics_.RenderQueue(5, 2);
  metrics_.RenderQueue(3, 2);
  metrics_.RenderShed();
  metrics_.RenderShed();
  EXPECT_EQ(V("docshare_render_queue_depth"), 3);
  EXPECT_EQ(V("docshare_render_in_flight"), 2);
  EXPECT_EQ(V("docshare_render_shed_total"), 2);
}

TEST_F(MetricsTest, SessionsAreACountWatchersAreDeltas) {
  metrics_.SessionsActive(4);
  metrics_.SessionsActive(3);
  metrics_.WatchersActive(+1);
  metrics_.WatchersActive(+1);
  metrics_.WatchersActive(+1);
  metrics_.WatchersActive(-1);
  EXPECT_EQ(V("docshare_sessions_active"), 3);
  EXPECT_EQ(V("docshare_watchers_active"), 2);
}

TEST_F(MetricsTest, DeliveriesCountAndTimeTogether) {
  metrics_.EventDelivered(absl::Milliseconds(2));
  metrics_.EventDelivered(absl::Milliseconds(8));
  metrics_.WatcherOverflow();
  EXPECT_EQ(V("docshare_events_delivered_total"), 2);
  EXPECT_EQ(V("docshare_delivery_latency_seconds"), 2);
  EXPECT_DOUBLE_EQ(*HistogramSum(registry_, "docshare_delivery_latency_seconds"), 0.01);
  EXPECT_EQ(V("docshare_watcher_overflows_total"), 1);
}

TEST_F(MetricsTest, RenderWorkerLossesByReason) {
  EXPECT_EQ(V("docshare_render_worker_losses_total", {{"reason", "crashed"}}), 0);
  metrics_.RenderWorkerLost("crashed");
  metrics_.RenderWorkerLost("timeout");
  metrics_.RenderWorkerLost("crashed");
  EXPECT_EQ(V("docshare_render_worker_losses_total", {{"reason", "crashed"}}), 2);
  EXPECT_EQ(V("docshare_render_worker_losses_total", {{"reason", "timeout"}}), 1);
  EXPECT_EQ(V("docshare_render_worker_losses_total", {{"reason", "idle"}}), 0);
}

TEST_F(MetricsTest, CacheLookupsAndRetainedBytes) {
  metrics_.CacheLookup(true);
  metrics_.CacheLookup(false);
  metrics_.CacheLookup(false);
  metrics_.RetainedPreviewBytes(1 << 20);
  metrics_.RetainedPreviewBytes(4096);
  EXPECT_EQ(V("docshare_preview_cache_hits_total"), 1);
  EXPECT_EQ(V("docshare_preview_cache_misses_total"), 2);
  EXPECT_EQ(V("docshare_retained_preview_bytes"), 4096);
}

TEST_F(MetricsTest, WorksBehindAnObserverTee) {
  NullObserver logs;
  ObserverTee tee(metrics_, logs);
  Observer& observer = tee;
  observer.ShareDone(FileType::kJpeg, RejectReason::kNone, true, absl::Milliseconds(5));
  EXPECT_EQ(V("docshare_shares_total", {{"result", "accepted"}, {"type", "jpeg"}}), 1);
}

}  // namespace
}  // namespace docshare::testing
