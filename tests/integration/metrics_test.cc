// Metrics of a real server over loopback: the App runs with Metrics as its
// Observer and the gRPC metrics interceptor, and its /metrics, /healthz and
// /readyz are served by MetricsHttpServer, wired as main() wires them. After
// known work every counter must hold exactly the expected value.
#include "service/metrics/metrics.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "prometheus/registry.h"
#include "service/metrics/http_server.h"
#include "service/metrics/process_collector.h"
#include "service/pipeline/vips_boundary.h"
#include "service/transport/grpc_metrics.h"
#include "tests/integration/harness.h"
#include "tests/metrics/scrape.h"
#include "tests/support/files.h"
#include "tests/support/hostile.h"

namespace docshare::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kDocuments[] = "docshare.v1.DocumentService";
constexpr char kSessions[] = "docshare.v1.SessionService";

std::string Photo() { return ReadFile(CorpusPath("sharp/320x240.jpg")); }
std::string Pdf() {
  std::string pdf = "%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n";
  pdf.resize(20 * 1024, ' ');
  return pdf;
}

// Waits (bounded) for what a server thread finishes after the client has its
// answer (e.g. a reactor's OnDone); yields, never sleeps a fixed time.
template <typename F>
bool Eventually(F done) {
  for (int i = 0; i < 2000000 && !done(); ++i) std::this_thread::yield();
  return done();
}

class MetricsOverGrpc : public ServerTest {
 protected:
  // As ServerTest::SetUp, with Metrics as an observer and the interceptor.
  void SetUp() override {
    ASSERT_TRUE(InitVips("integration_tests").ok());
    config_.grpc_address = "127.0.0.1:0";
    config_.http_address = "127.0.0.1:0";
    config_.admin_token = kAdminToken;
    config_.token_secret = "integration-secret-0123456789abcdef";
    config_.isolation.workers = 2;
    config_.limits.max_frames = 20;
    config_.limits.max_file_bytes = 1 << 20;
    config_.token_share_rate = 0;  // many shares from one token, as in ServerTest
    config_.token_check_file_rate = 0;
    ASSERT_TRUE(config_.Validate().ok()) << config_.Validate();
    app_ = std::make_unique<App>(config_, clock_, tee_, log_);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(NewGrpcMetricsFactory(*registry_));
    ASSERT_TRUE(app_->Start(std::move(interceptors)).ok());
    channel_ = NewChannel();
    sessions_ = v1::SessionService::NewStub(channel_);
    documents_ = v1::DocumentService::NewStub(channel_);
  }

  std::optional<double> V(const std::string& name, const LabelMap& labels = {}) const {
    return Value(*registry_, name, labels);
  }
  static LabelMap Rpc(const char* type, const char* service, const char* method) {
    return {{"grpc_type", type}, {"grpc_service", service}, {"grpc_method", method}};
  }
  static LabelMap Handled(const char* type, const char* service, const char* method,
                          const char* code) {
    LabelMap labels = Rpc(type, service, method);
    labels["grpc_code"] = code;
    return labels;
  }
  static LabelMap Share(const char* code) {
    return Handled("client_stream", kDocuments, "ShareDocument", code);
  }
  using ServerTest::Share;

  std::shared_ptr<prometheus::Registry> registry_ =
      std::make_shared<prometheus::Registry>();
  Metrics metrics_{*registry_};
  ObserverTee tee_{metrics_, observer_};  // metrics and the harness' logs, as in main
};

TEST_F(MetricsOverGrpc, SharesAndRejectsAreCountedExactly) {
  const std::string agent = StartSession("metrics").agent_token();
  // 4 accepted: 2 JPEG (the second from the preview cache), 1 PNG, 1 GIF.
  for (const std::string& file :
       {Photo(), Photo(), ReadFile(CorpusPath("sharp/2x2_fdcce6.png")),
        GifWithFrames(3)}) {
    ShareResult r = Share(agent, "metrics", file);
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  }
  // 7 rejected, every reason at least once.
  const std::vector<std::pair<std::string, std::string>> rejects = {
      {Pdf(), "REJECT_REASON_UNSUPPORTED_TYPE"},
      {"", "REJECT_REASON_EMPTY_FILE"},
      {GifWithDimensions(65535, 65535), "REJECT_REASON_DIMENSIONS_TOO_LARGE"},
      {GifWithFrames(21), "REJECT_REASON_TOO_MANY_FRAMES"},
      {JpegScanBomb(150), "REJECT_REASON_CORRUPT_IMAGE"},
      {ReadFile(CorpusPath("sharp/truncated.jpg")), "REJECT_REASON_CORRUPT_IMAGE"},
  };
  for (const auto& [file, reason] : rejects) {
    ShareResult r = Share(agent, "metrics", file);
    ASSERT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << reason;
    ASSERT_EQ(r.trailer("docshare-reject-reason"), reason);
  }
  ShareOptions declared_too_large;
  declared_too_large.size_bytes = (1 << 20) + 1;
  ShareResult too_large = Share(agent, "metrics", "", declared_too_large);
  ASSERT_EQ(too_large.trailer("docshare-reject-reason"), "REJECT_REASON_FILE_TOO_LARGE");
  // Not verdicts on a file: a broken upload and a caller without a token.
  ShareOptions broken;
  broken.size_bytes = 100;  // and more bytes follow
  ASSERT_EQ(Share(agent, "metrics", Photo(), broken).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_EQ(Share("", "metrics", Photo()).status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // A share refused while its stream is read is reported when its reactor is
  // done, just after the client has the status.
  ASSERT_TRUE(Eventually([&] { return V("docshare_share_duration_seconds") == 11; }))
      << *V("docshare_share_duration_seconds");
  EXPECT_EQ(V("docshare_shares_total", {{"result", "accepted"}, {"type", "jpeg"}}), 2);
  EXPECT_EQ(V("docshare_shares_total", {{"result", "accepted"}, {"type", "png"}}), 1);
  EXPECT_EQ(V("docshare_shares_total", {{"result", "accepted"}, {"type", "gif"}}), 1);
  EXPECT_EQ(V("docshare_shares_total", {{"result", "accepted"}, {"type", "other"}}), 0);
  EXPECT_EQ(V("docshare_shares_total", {{"result", "rejected"}, {"type", "other"}}), 3)
      << "unsupported, empty, too large before any byte";
  EXPECT_EQ(V("docshare_shares_total", {{"result", "rejected"}, {"type", "gif"}}), 2);
  EXPECT_EQ(V("docshare_shares_total", {{"result", "rejected"}, {"type", "jpeg"}}), 2);
  EXPECT_EQ(V("docshare_shares_total", {{"result", "rejected"}, {"type", "png"}}), 0);
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "unsupported_type"}}), 1);
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "empty_file"}}), 1);
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "file_too_large"}}), 1);
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "dimensions_too_large"}}), 1);
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "too_many_frames"}}), 1);
  EXPECT_EQ(V("docshare_rejects_total", {{"reason", "corrupt_image"}}), 2);
  EXPECT_EQ(V("docshare_share_duration_seconds"), 11);
  EXPECT_EQ(V("docshare_preview_cache_hits_total"), 1);
  EXPECT_EQ(V("docshare_preview_cache_misses_total"), 4)
      << "3 renders + the truncated JPEG";
  EXPECT_GT(V("docshare_preview_bytes_total"), 0);
  EXPECT_GE(V("docshare_received_bytes_total"), 2 * Photo().size());
  EXPECT_EQ(V("docshare_stage_duration_seconds", {{"stage", "publish"}}), 4);

  // gRPC's view: 7 verdicts + 1 broken upload are InvalidArgument.
  EXPECT_EQ(
      V("grpc_server_started_total", Rpc("client_stream", kDocuments, "ShareDocument")),
      13);
  EXPECT_EQ(V("grpc_server_handled_total", Share("OK")), 4);
  EXPECT_EQ(V("grpc_server_handled_total", Share("InvalidArgument")), 8);
  EXPECT_EQ(V("grpc_server_handled_total", Share("Unauthenticated")), 1);
  EXPECT_EQ(V("grpc_server_handled_total", Share("ResourceExhausted")), 0)
      << "every code is there from the start";
  EXPECT_EQ(V("grpc_server_handling_seconds",
              Rpc("client_stream", kDocuments, "ShareDocument")),
            13);
  EXPECT_EQ(
      V("grpc_server_handled_total", Handled("unary", kSessions, "StartSession", "OK")),
      1);
}

TEST_F(MetricsOverGrpc, MessagesAreCountedPerStreamMessage) {
  const std::string agent = StartSession("messages").agent_token();
  const std::string photo = Photo();
  const size_t chunk = 8192;
  ShareOptions options;
  options.chunk_bytes = chunk;
  ASSERT_TRUE(Share(agent, "messages", photo, options).status.ok());
  const double chunks = static_cast<double>((photo.size() + chunk - 1) / chunk);
  const LabelMap share = Rpc("client_stream", kDocuments, "ShareDocument");
  EXPECT_EQ(V("grpc_server_msg_received_total", share), 1 + chunks) << "header + chunks";
  EXPECT_EQ(V("grpc_server_msg_sent_total", share), 1);

  // A watcher that replays the document, then sees the session end.
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", std::string("Bearer ") + kAdminToken);
  v1::WatchSessionRequest req;
  req.set_session_id("messages");
  auto reader = sessions_->WatchSession(&ctx, req);
  std::vector<v1::SessionEvent> events(1);
  ASSERT_TRUE(reader->Read(&events[0]));
  ASSERT_TRUE(EndSession(kAdminToken, "messages").ok());
  for (v1::SessionEvent e; reader->Read(&e);) events.push_back(e);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(events.size(), 2u) << "the document and the end";
  const LabelMap watch = Rpc("server_stream", kSessions, "WatchSession");
  EXPECT_EQ(V("grpc_server_msg_received_total", watch), 1);
  EXPECT_EQ(V("grpc_server_msg_sent_total", watch), 2);
  EXPECT_EQ(V("grpc_server_handled_total",
              Handled("server_stream", kSessions, "WatchSession", "OK")),
            1);
  EXPECT_EQ(V("docshare_events_delivered_total"), 2);
  EXPECT_EQ(V("docshare_delivery_latency_seconds"), 2);
  // Publish and delivery are both timed by the injected clock, which the
  // harness does not move: no latency at all (the wall clock's would be the
  // years between it and the fake clock's start).
  EXPECT_DOUBLE_EQ(*HistogramSum(*registry_, "docshare_delivery_latency_seconds"), 0.0);
  EXPECT_TRUE(Eventually([&] { return V("docshare_watchers_active") == 0; }))
      << *V("docshare_watchers_active");
  EXPECT_EQ(V("docshare_sessions_active"), 0);
}

TEST_F(MetricsOverGrpc, CodesAreGoStyleNamesAndUnknownMethodsMakeNoSeries) {
  v1::CheckFileResponse check;
  EXPECT_EQ(Check("forged", "GIF89a", &check).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(EndSession(kAdminToken, "never-started").error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(V("grpc_server_handled_total",
              Handled("unary", kDocuments, "CheckFile", "Unauthenticated")),
            1);
  EXPECT_EQ(V("grpc_server_handled_total",
              Handled("unary", kSessions, "EndSession", "NotFound")),
            1);

  grpc::GenericStub generic(channel_);
  grpc::ClientContext ctx;
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1), response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  generic.UnaryCall(&ctx, "/docshare.v1.DocumentService/NoSuchMethod",
                    grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
                      std::lock_guard lock(mu);
                      status = s;
                      done = true;
                      cv.notify_all();
                    });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  // gRPC serves unknown methods as generic (bidi) calls.
  EXPECT_EQ(V("grpc_server_handled_total",
              Handled("bidi_stream", "unknown", "unknown", "Unimplemented")),
            1);
  for (const prometheus::MetricFamily& family : registry_->Collect()) {
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const auto& label : metric.label) {
        EXPECT_NE(label.value, "NoSuchMethod") << family.name;
      }
    }
  }
}

TEST_F(MetricsOverGrpc, TheHttpEndpointServesAllOfItAndFollowsReadiness) {
  auto http = MetricsHttpServer::Start(
      {.address = "127.0.0.1:0",
       .collectables = {registry_, std::make_shared<ProcessCollector>()},
       .ready = [this] { return app_->ready(); }});
  ASSERT_TRUE(http.ok()) << http.status();
  const int port = (*http)->port();
  const std::string agent = StartSession("http").agent_token();
  ASSERT_TRUE(Share(agent, "http", Photo()).status.ok());
  ASSERT_FALSE(Share(agent, "http", Pdf()).status.ok());

  ASSERT_TRUE(Eventually([&] { return V("docshare_share_duration_seconds") == 2; }));
  const HttpResponse metrics = HttpGet(port, "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body,
              HasSubstr("docshare_rejects_total{reason=\"unsupported_type\"} 1"));
  EXPECT_THAT(
      metrics.body,
      HasSubstr("grpc_server_handled_total{grpc_code=\"InvalidArgument\",grpc_method="
                "\"ShareDocument\",grpc_service=\"docshare.v1.DocumentService\","
                "grpc_type=\"client_stream\"} 1"));
  EXPECT_THAT(metrics.body, HasSubstr("process_resident_memory_bytes "));
  if (access(kPromtool, X_OK) == 0) {
    auto [code, output] = PromtoolCheckMetrics(metrics.body);
    EXPECT_EQ(code, 0) << output;
  }

  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
  EXPECT_EQ(HttpGet(port, "/readyz").status, 200);
  app_->Drain(absl::Seconds(5));
  EXPECT_EQ(HttpGet(port, "/readyz").status, 503) << "drained: out of the Service";
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200) << "but alive: no restart";
}

}  // namespace
}  // namespace docshare::testing
