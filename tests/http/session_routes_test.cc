// The session routes of the HTTP listener over real HTTP on loopback, against
// both real stores (memory, and a redis-server this test starts): preview
// GET/HEAD by signed URL, its cache, the SSE event stream, and the document
// lifecycle (GET /v1/sessions/{id}, :withdraw, :acknowledge).
#include <unistd.h>

#include <atomic>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "docshare/v1/docshare.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "service/auth/preview_url.h"
#include "service/auth/tokens.h"
#include "service/common/clock.h"
#include "service/common/observer.h"
#include "service/http/api.h"
#include "service/http/http_server.h"
#include "service/http/lifecycle_routes.h"
#include "service/metrics/http_metrics.h"
#include "service/metrics/metrics.h"
#include "service/pipeline/sha256.h"
#include "service/sessions/memory_store.h"
#include "service/sessions/redis_store.h"
#include "tests/http/http_test_support.h"
#include "tests/metrics/scrape.h"
#include "tests/support/files.h"
#include "tests/support/redis_server.h"

namespace docshare {
namespace {

using ::docshare::http_test::ClosedWithin;
using ::docshare::http_test::Connect;
using ::docshare::http_test::Fetch;
using ::docshare::http_test::ReadUntil;
using ::docshare::http_test::Reply;
using ::docshare::http_test::SendAll;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAdminToken[] = "session-routes-admin-token-0123456789";
constexpr char kSecret[] = "session-routes-secret-0123456789abcdef";

enum class Store { kMemory, kRedis };

std::string StoreName(const ::testing::TestParamInfo<Store>& info) {
  return info.param == Store::kMemory ? "Memory" : "Redis";
}

// One event of an SSE stream as read off the wire.
struct SseEvent {
  std::string id;
  std::string event;
  v1::SessionEvent data;
};

// The events (not comments, not `retry`) in `text`.
std::vector<SseEvent> ParseSse(const std::string& text) {
  std::vector<SseEvent> out;
  const size_t body = text.find("\r\n\r\n");
  for (absl::string_view block : absl::StrSplit(text.substr(body + 4), "\n\n")) {
    SseEvent event;
    for (absl::string_view line : absl::StrSplit(block, '\n')) {
      if (absl::ConsumePrefix(&line, "id: ")) event.id = std::string(line);
      if (absl::ConsumePrefix(&line, "event: ")) event.event = std::string(line);
      if (absl::ConsumePrefix(&line, "data: ")) {
        EXPECT_TRUE(
            google::protobuf::util::JsonStringToMessage(std::string(line), &event.data)
                .ok())
            << line;
      }
    }
    if (!event.id.empty()) out.push_back(std::move(event));
  }
  return out;
}

class SessionRoutesTest : public ::testing::TestWithParam<Store> {
 protected:
  void SetUp() override {
    if (GetParam() == Store::kRedis) {
      redis_ = std::make_unique<testing::RedisServer>();
      ASSERT_TRUE(redis_->ok());
      auto redis = std::make_unique<RedisStore>(
          RedisAddress{.host = "127.0.0.1", .port = redis_->port()}, clock_,
          SessionCaps{}, observer_);
      ASSERT_TRUE(redis->WaitHealthy(absl::Seconds(30)));
      backplane_ = std::move(redis);
    } else {
      backplane_ = std::make_unique<MemoryStore>(clock_, SessionCaps{}, observer_);
    }
    Serve();
  }

  void Serve(size_t watcher_queue = 64, WatchAdmitter admit = nullptr) {
    server_.reset();
    api_.reset();
    previews_ = std::make_unique<PreviewRoute>(
        PreviewRoute::Deps{*backplane_, signer_, metrics_, clock_},
        PreviewRoute::Options{});
    events_ =
        std::make_unique<EventsRoute>(EventsRoute::Deps{.backplane = *backplane_,
                                                        .signer = signer_,
                                                        .observer = metrics_,
                                                        .sessions = domain_metrics_,
                                                        .admit = std::move(admit),
                                                        .watcher_queue = watcher_queue});
    // As the App wires it: a withdrawal drops this replica's cached copies.
    backplane_->SetPurgeListener(
        [previews = previews_.get()](const std::vector<std::string>& sha256) {
          previews->Forget(sha256);
        });
    lifecycle_ = std::make_unique<LifecycleRoutes>(LifecycleRoutes::Deps{
        .lifecycle = {*backplane_, domain_metrics_, log_, &signer_}});
    api_ = std::make_unique<HttpApi>(HttpApi::Deps{.tokens = tokens_,
                                                   .admin_token = kAdminToken,
                                                   .cors_origins = {},
                                                   .observer = metrics_,
                                                   .previews = previews_.get(),
                                                   .events = events_.get(),
                                                   .lifecycle = lifecycle_.get()});
    absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
        {.address = "127.0.0.1:0", .stream_heartbeat = absl::Milliseconds(200)}, *api_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void TearDown() override {
    backplane_->SetPurgeListener(nullptr);
    server_.reset();
    api_.reset();
  }

  std::string Url(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", server_->port(), path);
  }

  SessionInfo StartSession(const std::string& id) {
    absl::StatusOr<SessionInfo> info = backplane_->Start({id, absl::Hours(2), false});
    EXPECT_TRUE(info.ok()) << info.status();
    return *info;
  }

  std::string TokenOf(const SessionInfo& info, Role role = Role::kConsumer) {
    return tokens_.Mint({info.id, role, info.nonce, info.expires_at});
  }

  // A document whose previews are real JPEG bytes from the corpus.
  // `with_previews` false: metadata only (a light log entry).
  uint64_t Append(const SessionInfo& info, const std::string& document_id,
                  const std::string& filename = "photo.jpg", bool with_previews = true) {
    auto document = std::make_shared<Document>();
    document->document_id = document_id;
    document->session_id = info.id;
    document->filename = filename;
    document->source_type = FileType::kJpeg;
    document->source_mime_type = "image/jpeg";
    document->shared_by = Role::kAgent;
    document->shared_at = clock_.Now();
    for (Rendition rendition : {Rendition::kThumbnail, Rendition::kDisplay}) {
      if (!with_previews) break;
      Preview preview;
      preview.rendition = rendition;
      preview.mime_type = "image/jpeg";
      preview.width = 320;
      preview.height = 240;
      preview.data = std::make_shared<const std::string>(Jpeg());
      preview.sha256 = Sha256Hex(*preview.data);
      document->previews.push_back(std::move(preview));
    }
    absl::StatusOr<EventPtr> event = backplane_->Append(info.id, info.nonce, document);
    EXPECT_TRUE(event.ok()) << event.status();
    return event.ok() ? (*event)->sequence : 0;
  }

  static std::string Jpeg() {
    return testing::ReadFile(testing::CorpusPath("sharp/320x240.jpg"));
  }

  std::string DisplayUrl(const SessionInfo& info, uint64_t sequence) const {
    return Url(signer_.Sign(info.id, info.nonce, static_cast<int64_t>(sequence),
                            Rendition::kDisplay, info.expires_at));
  }

  // Opens an SSE stream; the fd, or -1.
  int OpenEvents(const std::string& session, const std::string& token,
                 const std::string& extra_headers = "", const std::string& query = "",
                 int receive_buffer = 0) {
    const int fd = Connect(server_->port(), false, receive_buffer);
    if (fd < 0) return -1;
    SendAll(fd, absl::StrCat("GET /v1/sessions/", session, "/events", query,
                             " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ", token,
                             "\r\n", extra_headers, "\r\n"));
    return fd;
  }

  double Metric(const std::string& name, const testing::LabelMap& labels = {}) {
    return testing::Value(registry_, name, labels).value_or(-1);
  }

  // The series' value once it is `want`, or its value at a deadline: a
  // request is counted after its answer's last byte is written, which may
  // be a moment after the client has read it.
  double MetricReaches(const std::string& name, const testing::LabelMap& labels,
                       double want) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    double value = Metric(name, labels);
    while (value != want && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));  // polling a condition, with a deadline
      value = Metric(name, labels);
    }
    return value;
  }

  // POST `path` with `token` (none when empty) and a JSON `body`.
  Reply Post(const std::string& path, const std::string& token,
             const std::string& body = "") {
    std::vector<std::string> headers = {"Content-Type: application/json"};
    if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
    return Fetch("POST", Url(path), headers, body);
  }
  Reply Withdraw(const std::string& document, const std::string& token) {
    return Post(absl::StrCat("/v1/sessions/s1/documents/", document, ":withdraw"), token);
  }
  Reply Acknowledge(const std::string& document, const std::string& token,
                    const std::string& ack = "ACKNOWLEDGEMENT_DISPLAYED") {
    return Post(absl::StrCat("/v1/sessions/s1/documents/", document, ":acknowledge"),
                token, absl::StrCat(R"({"acknowledgement": ")", ack, R"("})"));
  }
  Reply GetSession(const std::string& session, const std::string& token) {
    return Fetch("GET", Url("/v1/sessions/" + session),
                 {"Authorization: Bearer " + token});
  }

  FakeClock clock_;
  Observer observer_;
  TokenService tokens_{kSecret, clock_};
  PreviewUrlSigner signer_{kSecret, clock_, absl::Seconds(600), ""};
  prometheus::Registry registry_;
  HttpMetrics metrics_{registry_};
  Metrics domain_metrics_{registry_};  // withdrawals, acknowledgements
  std::ostringstream log_text_;
  Logger log_{LogLevel::kInfo, &log_text_};
  std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<SessionStore> backplane_;
  std::unique_ptr<PreviewRoute> previews_;
  std::unique_ptr<EventsRoute> events_;
  std::unique_ptr<LifecycleRoutes> lifecycle_;
  std::unique_ptr<HttpApi> api_;
  std::unique_ptr<HttpServer> server_;
};

INSTANTIATE_TEST_SUITE_P(Stores, SessionRoutesTest,
                         ::testing::Values(Store::kMemory, Store::kRedis), StoreName);

TEST_P(SessionRoutesTest, PreviewGetServesTheBytesWithCachingHeaders) {
  const SessionInfo info = StartSession("s1");
  const uint64_t seq = Append(info, "d1");
  Reply reply = Fetch("GET", DisplayUrl(info, seq));
  ASSERT_EQ(reply.status, 200) << reply.body << reply.error;
  EXPECT_EQ(reply.body, Jpeg());
  EXPECT_EQ(reply.Header("content-type"), "image/jpeg");
  EXPECT_EQ(reply.Header("etag"), absl::StrCat("\"", Sha256Hex(Jpeg()), "\""));
  // The URL lives 600 s (the session 2 h); the fake clock has not moved.
  EXPECT_EQ(reply.Header("cache-control"), "private, max-age=600, immutable");
  EXPECT_EQ(reply.Header("x-content-type-options"), "nosniff");
  EXPECT_EQ(Metric("docshare_http_preview_bytes_total"), Jpeg().size());
}

TEST_P(SessionRoutesTest, PreviewHeadHasTheHeadersAndNoBody) {
  const SessionInfo info = StartSession("s1");
  const uint64_t seq = Append(info, "d1");
  Reply reply = Fetch("HEAD", DisplayUrl(info, seq));
  ASSERT_EQ(reply.status, 200) << reply.error;
  EXPECT_EQ(reply.body, "");
  EXPECT_EQ(reply.Header("content-length"), std::to_string(Jpeg().size()));
  EXPECT_EQ(reply.Header("etag"), absl::StrCat("\"", Sha256Hex(Jpeg()), "\""));
}

TEST_P(SessionRoutesTest, IfNoneMatchIs304) {
  const SessionInfo info = StartSession("s1");
  const uint64_t seq = Append(info, "d1");
  const std::string etag = absl::StrCat("\"", Sha256Hex(Jpeg()), "\"");
  Reply reply = Fetch("GET", DisplayUrl(info, seq), {"If-None-Match: " + etag});
  EXPECT_EQ(reply.status, 304);
  EXPECT_EQ(reply.body, "");
  EXPECT_EQ(reply.Header("etag"), etag);
  EXPECT_EQ(Metric("docshare_http_preview_not_modified_total"), 1);
  // Another tag: the bytes.
  reply = Fetch("GET", DisplayUrl(info, seq), {"If-None-Match: \"other\""});
  EXPECT_EQ(reply.status, 200);
}

TEST_P(SessionRoutesTest, ForgedOrExpiredUrlIs403) {
  const SessionInfo info = StartSession("s1");
  const uint64_t seq = Append(info, "d1");
  std::string url = DisplayUrl(info, seq);
  std::string forged = url;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(Fetch("GET", forged).status, 403);
  clock_.Advance(absl::Seconds(601));
  Reply expired = Fetch("GET", url);
  EXPECT_EQ(expired.status, 403);
  EXPECT_THAT(expired.body, HasSubstr("PERMISSION_DENIED"));
}

TEST_P(SessionRoutesTest, EndedSessionOrUnknownDocumentIs410) {
  const SessionInfo info = StartSession("s1");
  const uint64_t seq = Append(info, "d1");
  EXPECT_EQ(Fetch("GET", DisplayUrl(info, seq + 5)).status, 410);
  ASSERT_EQ(Fetch("GET", DisplayUrl(info, seq)).status, 200);
  ASSERT_TRUE(backplane_->End("s1", "ended").ok());
  // The replica's cache trusts an entry for 1 s: past it, the store says gone.
  clock_.Advance(absl::Seconds(2));
  Reply gone = Fetch("GET", DisplayUrl(info, seq));
  EXPECT_EQ(gone.status, 410);
  EXPECT_THAT(gone.body, HasSubstr("\"code\""));
}

// Issue 13: a withdrawn document's URLs answer 410 on every replica (the
// store's log entry keeps the DocumentShared without previews), while the
// session's other documents are still served.
TEST_P(SessionRoutesTest, AWithdrawnDocumentsUrlIs410) {
  const SessionInfo info = StartSession("s1");
  const uint64_t withdrawn = Append(info, "d1");
  const uint64_t kept = Append(info, "d2");
  ASSERT_EQ(Fetch("GET", DisplayUrl(info, withdrawn)).status, 200);
  ASSERT_TRUE(backplane_->Withdraw("s1", "d1", Role::kAgent).ok());
  // The replica's cache trusts an entry for 1 s: past it, the store says gone.
  clock_.Advance(absl::Seconds(2));
  Reply gone = Fetch("GET", DisplayUrl(info, withdrawn));
  EXPECT_EQ(gone.status, 410);
  EXPECT_THAT(gone.body, HasSubstr("\"code\""));
  EXPECT_EQ(gone.body.find(Jpeg()), std::string::npos);
  Reply other = Fetch("GET", DisplayUrl(info, kept));
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.body, Jpeg());
}

TEST_P(SessionRoutesTest, ManyFetchesOfOnePreviewAreOneStoreRead) {
  const SessionInfo info = StartSession("s1");
  const uint64_t seq = Append(info, "d1");
  const std::string url = DisplayUrl(info, seq);
  std::atomic<int> ok = 0;
  std::vector<std::thread> browsers;
  for (int i = 0; i < 40; ++i) {
    browsers.emplace_back([&] {
      if (Fetch("GET", url).body == Jpeg()) ++ok;
    });
  }
  for (std::thread& t : browsers) t.join();
  EXPECT_EQ(ok.load(), 40);
  EXPECT_EQ(previews_->store_reads(), 1);
}

TEST_P(SessionRoutesTest, EventsReplayThenLiveWithUrlsAndResume) {
  const SessionInfo info = StartSession("s1");
  const uint64_t first = Append(info, "d1");
  const int fd = OpenEvents("s1", TokenOf(info));
  ASSERT_GE(fd, 0);
  std::string got;
  ASSERT_TRUE(ReadUntil(fd, "data: ", &got)) << got;
  EXPECT_THAT(got, HasSubstr("Content-Type: text/event-stream"));
  EXPECT_THAT(got, HasSubstr(absl::StrCat("docshare-last-sequence: ", first)));
  const uint64_t second = Append(info, "d2");
  ASSERT_TRUE(ReadUntil(fd, "\"documentId\":\"d2\"", &got)) << got;
  ASSERT_TRUE(ReadUntil(fd, "\n\n", &got));
  close(fd);

  std::vector<SseEvent> events = ParseSse(got);
  ASSERT_EQ(events.size(), 2u) << got;
  EXPECT_EQ(events[0].id, std::to_string(first));
  EXPECT_EQ(events[0].event, "document_shared");
  EXPECT_EQ(events[1].id, std::to_string(second));
  const v1::Preview& preview = events[1].data.document_shared().document().previews(1);
  EXPECT_TRUE(preview.data().empty());
  EXPECT_EQ(preview.size_bytes(), Jpeg().size());
  EXPECT_EQ(preview.sha256(), Sha256Hex(Jpeg()));
  ASSERT_THAT(preview.url(), HasSubstr("/v1/previews/"));
  EXPECT_EQ(Fetch("GET", Url(preview.url())).body, Jpeg());

  // A reconnect with Last-Event-ID gets only what came after.
  const int again =
      OpenEvents("s1", TokenOf(info), absl::StrCat("Last-Event-ID: ", first, "\r\n"));
  std::string resumed;
  ASSERT_TRUE(ReadUntil(again, "\"documentId\":\"d2\"", &resumed)) << resumed;
  EXPECT_THAT(resumed, Not(HasSubstr("\"documentId\":\"d1\"")));
  close(again);
}

TEST_P(SessionRoutesTest, AfterSequenceQueryResumesAndHeartbeatsFlow) {
  const SessionInfo info = StartSession("s1");
  Append(info, "d1");
  const uint64_t second = Append(info, "d2");
  const int fd = OpenEvents("s1", TokenOf(info), "", "?after_sequence=1");
  std::string got;
  ASSERT_TRUE(ReadUntil(fd, "\"documentId\":\"d2\"", &got)) << got;
  EXPECT_THAT(got, Not(HasSubstr("\"documentId\":\"d1\"")));
  EXPECT_THAT(got, HasSubstr(absl::StrCat("id: ", second)));
  ASSERT_TRUE(ReadUntil(fd, ": heartbeat", &got)) << got;
  close(fd);
}

TEST_P(SessionRoutesTest, SessionEndedIsTheLastEventAndClosesTheStream) {
  const SessionInfo info = StartSession("s1");
  const int fd = OpenEvents("s1", TokenOf(info, Role::kAgent));
  std::string got;
  ASSERT_TRUE(ReadUntil(fd, "retry: ", &got)) << got;
  ASSERT_TRUE(backplane_->End("s1", "ended").ok());
  EXPECT_TRUE(ClosedWithin(fd, &got)) << got;
  EXPECT_THAT(got, HasSubstr("event: session_ended"));
  EXPECT_THAT(got, HasSubstr("\"reason\":\"ended\""));
  close(fd);
}

TEST_P(SessionRoutesTest, EventsRefusalsHaveTheirStatusCodes) {
  const SessionInfo info = StartSession("s1");
  const SessionInfo other = StartSession("s2");
  auto status_of = [&](const std::string& session,
                       const std::vector<std::string>& headers) {
    return Fetch("GET", Url(absl::StrCat("/v1/sessions/", session, "/events")), headers)
        .status;
  };
  EXPECT_EQ(status_of("s1", {}), 401);
  EXPECT_EQ(status_of("s1", {"Authorization: Bearer forged"}), 401);
  EXPECT_EQ(status_of("s1", {"Authorization: Bearer " + TokenOf(other)}), 403);
  EXPECT_EQ(status_of("nope", {absl::StrCat("Authorization: Bearer ", kAdminToken)}),
            404);
  EXPECT_EQ(
      status_of("s1", {"Authorization: Bearer " + TokenOf(info), "Last-Event-ID: x"}),
      400);
  EXPECT_EQ(
      status_of("s1", {"Authorization: Bearer " + TokenOf(info), "Last-Event-ID: 99"}),
      400);  // beyond the log: OUT_OF_RANGE
  ASSERT_TRUE(backplane_->End("s2", "ended").ok());
  EXPECT_EQ(status_of("s2", {absl::StrCat("Authorization: Bearer ", kAdminToken)}), 409);
}

// A reader that stops reading is cut off once --watcher-queue events wait for
// it (the budget of a slow gRPC watcher, the same Watcher): the stream ends
// cleanly after the last whole event, and a reconnect with Last-Event-ID
// resumes right after it.
TEST_P(SessionRoutesTest, ASlowReaderIsCutOffAndItsReconnectResumes) {
  Serve(/*watcher_queue=*/4);
  const SessionInfo info = StartSession("s1");
  const int fd = OpenEvents("s1", TokenOf(info), "", "", /*receive_buffer=*/4096);
  ASSERT_GE(fd, 0);
  std::string got;
  ASSERT_TRUE(ReadUntil(fd, "retry: ", &got)) << got;
  // Events of 32 KiB (a long filename; no previews, so the store's log stays
  // light): the socket buffers (4 MiB at most here) fill after a hundred or
  // so, then the queue, while this reader reads nothing.
  constexpr int kDocuments = 190;  // under the 200 documents a session holds
  for (int i = 1; i <= kDocuments; ++i) {
    Append(info, absl::StrCat("d", i), std::string(32 << 10, 'a'), false);
  }
  ASSERT_TRUE(ClosedWithin(fd, &got)) << got.size();
  close(fd);
  EXPECT_TRUE(got.ends_with("0\r\n\r\n")) << "the stream's last chunk";
  // The last whole event it got (none: a burst can outrun even the first).
  uint64_t last = 0;
  if (const size_t at = got.rfind("\nid: "); at != std::string::npos) {
    ASSERT_TRUE(
        absl::SimpleAtoi(got.substr(at + 5, got.find('\n', at + 1) - at - 5), &last));
    EXPECT_THAT(got.substr(at), HasSubstr(absl::StrCat("\"documentId\":\"d", last, "\"")))
        << "the last event whole";
  }
  EXPECT_LT(last, static_cast<uint64_t>(kDocuments)) << "it was cut off";

  // The reconnect, as EventSource makes it: Last-Event-ID, and again after a
  // 503 (a store read that timed out on a loaded machine is worth a retry).
  std::string resumed;
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  do {
    resumed.clear();
    const int again =
        OpenEvents("s1", TokenOf(info), absl::StrCat("Last-Event-ID: ", last, "\r\n"));
    ReadUntil(again, "\ndata: ", &resumed);
    close(again);
  } while (resumed.starts_with("HTTP/1.1 503") && absl::Now() < deadline);
  ASSERT_THAT(resumed, HasSubstr("\ndata: ")) << resumed.substr(0, 400);
  EXPECT_THAT(resumed, HasSubstr(absl::StrCat("id: ", last + 1, "\n")));
  EXPECT_THAT(resumed, Not(HasSubstr(absl::StrCat("id: ", last, "\n"))));
}

TEST_P(SessionRoutesTest, WatcherCapIs429) {
  Serve(64,
        [](const std::string&, const Caller&) -> absl::StatusOr<std::shared_ptr<void>> {
          return absl::ResourceExhaustedError("this session has its most watch streams");
        });
  const SessionInfo info = StartSession("s1");
  Reply reply = Fetch("GET", Url("/v1/sessions/s1/events"),
                      {"Authorization: Bearer " + TokenOf(info)});
  EXPECT_EQ(reply.status, 429);
  EXPECT_EQ(reply.Header("retry-after"), "1");
}

// A route may still hold its exchange on a store thread when the server
// is destroyed (the app stopping, a test's TearDown): the exchange's release
// posts to the server's loop, so the server goes only after it (ASan caught a
// use after free of the loop here).
TEST_P(SessionRoutesTest, TheServerGoesOnlyAfterTheRoutesReleaseTheirExchanges) {
  absl::Notification entered, release;
  Serve(64,
        [&](const std::string&, const Caller&) -> absl::StatusOr<std::shared_ptr<void>> {
          entered.Notify();
          release.WaitForNotification();
          return absl::ResourceExhaustedError("this session has its most watch streams");
        });
  const SessionInfo info = StartSession("s1");
  const int fd = OpenEvents("s1", TokenOf(info));
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(30)));
  std::atomic<bool> released{false};
  std::atomic<bool> gone_before_release{false};
  absl::Notification stopped;
  std::thread stopper([&] {
    server_.reset();
    gone_before_release.store(!released.load());
    stopped.Notify();
  });
  // Time for a server that does not wait to be gone (this one waits).
  (void)stopped.WaitForNotificationWithTimeout(absl::Seconds(2));
  released.store(true);
  release.Notify();
  stopper.join();
  close(fd);
  EXPECT_FALSE(gone_before_release.load())
      << "the server was destroyed while a route still held an exchange";
}

TEST_P(SessionRoutesTest, DrainEndsStreamsAndTheGaugeFollows) {
  const SessionInfo info = StartSession("s1");
  const int fd = OpenEvents("s1", TokenOf(info));
  std::string got;
  ASSERT_TRUE(ReadUntil(fd, "retry: ", &got)) << got;
  EXPECT_EQ(server_->streams(), 1);
  EXPECT_EQ(Metric("docshare_http_sse_streams_active"), 1);
  server_->Drain(absl::Now() + absl::Seconds(30));
  EXPECT_TRUE(ClosedWithin(fd, &got)) << got;
  EXPECT_EQ(server_->streams(), 0);
  EXPECT_EQ(Metric("docshare_http_sse_streams_active"), 0);
  close(fd);
}

TEST_P(SessionRoutesTest, ClientGoneEndsItsStream) {
  const SessionInfo info = StartSession("s1");
  const int fd = OpenEvents("s1", TokenOf(info));
  std::string got;
  ASSERT_TRUE(ReadUntil(fd, "retry: ", &got)) << got;
  ASSERT_EQ(server_->streams(), 1);
  close(fd);
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (server_->streams() != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));  // polling a condition, with a deadline
  }
  EXPECT_EQ(server_->streams(), 0);
}

TEST_P(SessionRoutesTest, GetSessionIsTheSessionWithItsSharedDocumentsAsUrls) {
  const SessionInfo info = StartSession("s1");
  Append(info, "d1");
  const uint64_t kept = Append(info, "d2");
  ASSERT_TRUE(backplane_->Withdraw("s1", "d1", Role::kAgent).ok());
  Reply reply = GetSession("s1", TokenOf(info));
  ASSERT_EQ(reply.status, 200) << reply.body << reply.error;
  EXPECT_EQ(reply.Header("content-type"), "application/json");
  // Defaults are printed: no watcher is an answer, not a missing field.
  EXPECT_THAT(reply.body, HasSubstr("\"watchers\":0"));
  v1::Session session;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(reply.body, &session).ok())
      << reply.body;
  EXPECT_EQ(session.session_id(), "s1");
  EXPECT_EQ(session.state(), v1::SESSION_STATE_ACTIVE);
  EXPECT_EQ(session.last_sequence(), 3u);  // d1, d2, the withdrawal
  ASSERT_EQ(session.documents_size(), 1);  // the withdrawn one is not shown
  EXPECT_EQ(session.documents(0).document_id(), "d2");
  const v1::Preview& display = session.documents(0).previews(1);
  EXPECT_TRUE(display.data().empty());
  EXPECT_EQ(display.url(), signer_.Sign("s1", info.nonce, static_cast<int64_t>(kept),
                                        Rendition::kDisplay, info.expires_at));
  EXPECT_EQ(Fetch("GET", Url(display.url())).body, Jpeg());
  // The admin sees it too; an ended session is still shown, with its state.
  ASSERT_TRUE(backplane_->End("s1", "ended").ok());
  reply = GetSession("s1", kAdminToken);
  ASSERT_EQ(reply.status, 200) << reply.body;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(reply.body, &session).ok());
  EXPECT_EQ(session.state(), v1::SESSION_STATE_ENDED);
  EXPECT_EQ(session.documents_size(), 0);
  EXPECT_EQ(MetricReaches("docshare_http_requests_total",
                          {{"route", "session"}, {"code", "200"}}, 2),
            2);
}

TEST_P(SessionRoutesTest, GetSessionRefusalsHaveTheirStatusCodes) {
  const SessionInfo first = StartSession("s1");
  const SessionInfo other = StartSession("s2");
  EXPECT_EQ(Fetch("GET", Url("/v1/sessions/s1")).status, 401);
  EXPECT_EQ(GetSession("s1", "forged").status, 401);
  EXPECT_EQ(GetSession("s1", TokenOf(other)).status, 403);
  EXPECT_EQ(GetSession("nope", kAdminToken).status, 404);
  // The token twice (header and query): a broken request.
  EXPECT_EQ(Fetch("GET", Url("/v1/sessions/s1?access_token=" + TokenOf(first)),
                  {"Authorization: Bearer " + TokenOf(first)})
                .status,
            400);
  // A token of an earlier start of the id.
  ASSERT_TRUE(backplane_->End("s1", "ended").ok());
  StartSession("s1");
  Reply earlier = GetSession("s1", TokenOf(first));
  EXPECT_EQ(earlier.status, 403);
  EXPECT_THAT(earlier.body, HasSubstr("PERMISSION_DENIED"));
}

TEST_P(SessionRoutesTest, WithdrawIs204OnceAndTheUrlsAreGone) {
  const SessionInfo info = StartSession("s1");
  const uint64_t seq = Append(info, "d1");  // shared by the agent
  const int fd = OpenEvents("s1", TokenOf(info));
  std::string got;
  ASSERT_TRUE(ReadUntil(fd, "\"documentId\":\"d1\"", &got)) << got;
  Reply reply = Withdraw("d1", TokenOf(info, Role::kAgent));
  EXPECT_EQ(reply.status, 204) << reply.body;
  EXPECT_EQ(reply.body, "");
  ASSERT_TRUE(ReadUntil(fd, "event: document_withdrawn", &got)) << got;
  ASSERT_TRUE(ReadUntil(fd, "\n\n", &got));
  close(fd);
  EXPECT_THAT(got, HasSubstr("\"withdrawnBy\":\"ROLE_AGENT\""));
  // Twice: OK, and no second event (the counter says one).
  EXPECT_EQ(Withdraw("d1", kAdminToken).status, 204);
  EXPECT_EQ(Metric("docshare_withdrawals_total"), 1);
  clock_.Advance(absl::Seconds(2));  // past the preview cache's trust
  EXPECT_EQ(Fetch("GET", DisplayUrl(info, seq)).status, 410);
  EXPECT_EQ(MetricReaches("docshare_http_requests_total",
                          {{"route", "withdraw"}, {"code", "204"}}, 2),
            2);
  EXPECT_THAT(log_text_.str(), HasSubstr("document_withdrawn"));
}

// The cache trusts an entry for a second, but not past a withdrawal heard
// here: the URL is gone at once (the fake clock does not move).
TEST_P(SessionRoutesTest, AWithdrawalDropsTheCachedCopyAtOnce) {
  const SessionInfo info = StartSession("s1");
  const uint64_t withdrawn = Append(info, "d1");
  const uint64_t kept = Append(info, "d2");
  ASSERT_EQ(Fetch("GET", DisplayUrl(info, withdrawn)).status, 200);
  ASSERT_EQ(Fetch("GET", DisplayUrl(info, kept)).status, 200);
  const int64_t reads = previews_->store_reads();  // both cached now
  ASSERT_EQ(Withdraw("d1", TokenOf(info, Role::kAgent)).status, 204);
  // Redis announces the purge through Pub/Sub: heard a moment later.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  long status = Fetch("GET", DisplayUrl(info, withdrawn)).status;
  while (status != 410 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));  // polling a condition, with a deadline
    status = Fetch("GET", DisplayUrl(info, withdrawn)).status;
  }
  EXPECT_EQ(status, 410);
  EXPECT_GT(previews_->store_reads(), reads) << "the 410 came from the store";
  // The other document is still served (same bytes here, so its cached copy
  // went too and is read again: a copy is keyed by its sha256).
  EXPECT_EQ(Fetch("GET", DisplayUrl(info, kept)).body, Jpeg());
}

TEST_P(SessionRoutesTest, WithdrawRefusalsHaveTheirStatusCodes) {
  const SessionInfo info = StartSession("s1");
  const SessionInfo other = StartSession("s2");
  Append(info, "d1");  // shared by the agent
  EXPECT_EQ(Withdraw("d1", "").status, 401);
  EXPECT_EQ(Withdraw("d1", "forged").status, 401);
  EXPECT_EQ(Withdraw("d1", TokenOf(other, Role::kAgent)).status, 403);
  Reply consumer = Withdraw("d1", TokenOf(info, Role::kConsumer));
  EXPECT_EQ(consumer.status, 403);  // only the role that shared it, or the admin
  EXPECT_THAT(consumer.body, HasSubstr("only that role or the admin"));
  Reply unknown = Withdraw("nope", TokenOf(info, Role::kAgent));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(unknown.body, HasSubstr("\"reason\":\"DOCUMENT_NOT_FOUND\""));
  EXPECT_EQ(Post("/v1/sessions/nope/documents/d1:withdraw", kAdminToken).status, 404);
  EXPECT_EQ(Fetch("GET", Url("/v1/sessions/s1/documents/d1:withdraw"),
                  {absl::StrCat("Authorization: Bearer ", kAdminToken)})
                .status,
            405);
  EXPECT_EQ(Post("/v1/sessions/s1/documents/d1:explode", kAdminToken).status, 404);
  ASSERT_TRUE(backplane_->End("s1", "ended").ok());
  EXPECT_EQ(Withdraw("d1", kAdminToken).status, 409);
  EXPECT_EQ(Metric("docshare_withdrawals_total"), 0);
}

TEST_P(SessionRoutesTest, AcknowledgeIs204OnceAndTheAgentSeesIt) {
  const SessionInfo info = StartSession("s1");
  Append(info, "d1");
  const int fd = OpenEvents("s1", TokenOf(info, Role::kAgent));
  std::string got;
  ASSERT_TRUE(ReadUntil(fd, "\"documentId\":\"d1\"", &got)) << got;
  Reply reply = Acknowledge("d1", TokenOf(info, Role::kConsumer));
  EXPECT_EQ(reply.status, 204) << reply.body;
  ASSERT_TRUE(ReadUntil(fd, "event: document_acknowledged", &got)) << got;
  ASSERT_TRUE(ReadUntil(fd, "\n\n", &got));
  close(fd);
  std::vector<SseEvent> events = ParseSse(got);
  ASSERT_EQ(events.size(), 2u) << got;
  const v1::DocumentAcknowledged& ack = events[1].data.document_acknowledged();
  EXPECT_EQ(ack.document_id(), "d1");
  EXPECT_EQ(ack.acknowledged_by(), v1::ROLE_CONSUMER);
  EXPECT_EQ(ack.acknowledgement(), v1::ACKNOWLEDGEMENT_DISPLAYED);
  // A repeat: OK, no second event.
  EXPECT_EQ(Acknowledge("d1", TokenOf(info, Role::kConsumer)).status, 204);
  EXPECT_EQ(Metric("docshare_acknowledgements_total", {{"acknowledgement", "displayed"}}),
            1);
  EXPECT_EQ(
      Acknowledge("d1", TokenOf(info, Role::kConsumer), "ACKNOWLEDGEMENT_CLOSED").status,
      204);
  EXPECT_EQ(Metric("docshare_acknowledgements_total", {{"acknowledgement", "closed"}}),
            1);
}

TEST_P(SessionRoutesTest, AcknowledgeRefusalsHaveTheirStatusCodes) {
  const SessionInfo info = StartSession("s1");
  const SessionInfo other = StartSession("s2");
  Append(info, "d1");
  Append(info, "d2");
  const std::string consumer = TokenOf(info, Role::kConsumer);
  const std::string path = "/v1/sessions/s1/documents/d1:acknowledge";
  EXPECT_EQ(Post(path, consumer, "not json").status, 400);
  EXPECT_EQ(Post(path, consumer, "").status, 400);
  EXPECT_EQ(Post(path, consumer, R"({"acknowledgement": "ACKNOWLEDGEMENT_SEEN"})").status,
            400);
  EXPECT_EQ(Post(path, consumer, R"({"ack": "ACKNOWLEDGEMENT_DISPLAYED"})").status, 400);
  Reply unspecified = Acknowledge("d1", consumer, "ACKNOWLEDGEMENT_UNSPECIFIED");
  EXPECT_EQ(unspecified.status, 400);
  EXPECT_THAT(unspecified.body, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_EQ(Acknowledge("d1", "").status, 401);
  EXPECT_EQ(Acknowledge("d1", TokenOf(other)).status, 403);
  EXPECT_EQ(Acknowledge("d1", kAdminToken).status, 403);  // participants only
  EXPECT_EQ(Acknowledge("nope", consumer).status, 404);
  ASSERT_TRUE(backplane_->Withdraw("s1", "d1", Role::kAgent).ok());
  Reply withdrawn = Acknowledge("d1", consumer);
  EXPECT_EQ(withdrawn.status, 410);
  EXPECT_THAT(withdrawn.body, HasSubstr("\"reason\":\"DOCUMENT_WITHDRAWN\""));
  ASSERT_TRUE(backplane_->End("s1", "ended").ok());
  EXPECT_EQ(Acknowledge("d2", consumer).status, 409);
  EXPECT_EQ(Metric("docshare_acknowledgements_total", {{"acknowledgement", "displayed"}}),
            0);
}

}  // namespace
}  // namespace docshare
