// The document lifecycle over real gRPC on loopback: WithdrawDocument,
// AcknowledgeDocument, GetSession, URL delivery and docshare-last-sequence,
// each error code with its ErrorInfo reason, and the metrics and log lines.

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "prometheus/registry.h"
#include "service/metrics/metrics.h"
#include "tests/integration/harness.h"
#include "tests/metrics/scrape.h"
#include "tests/support/files.h"

namespace docshare::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string Photo() { return ReadFile(CorpusPath("sharp/320x240.jpg")); }

void Authorize(grpc::ClientContext& ctx, const std::string& token) {
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
}

class LifecycleTest : public ServerTest {
 protected:
  Observer& AppObserver() override { return tee_; }

  grpc::Status Withdraw(const std::string& token, const std::string& session,
                        const std::string& document) {
    grpc::ClientContext ctx;
    Authorize(ctx, token);
    v1::WithdrawDocumentRequest req;
    req.set_session_id(session);
    req.set_document_id(document);
    v1::WithdrawDocumentResponse resp;
    return documents_->WithdrawDocument(&ctx, req, &resp);
  }

  grpc::Status Ack(const std::string& token, const std::string& session,
                   const std::string& document,
                   v1::Acknowledgement ack = v1::ACKNOWLEDGEMENT_DISPLAYED) {
    grpc::ClientContext ctx;
    Authorize(ctx, token);
    v1::AcknowledgeDocumentRequest req;
    req.set_session_id(session);
    req.set_document_id(document);
    req.set_acknowledgement(ack);
    v1::AcknowledgeDocumentResponse resp;
    return documents_->AcknowledgeDocument(&ctx, req, &resp);
  }

  grpc::Status Get(const std::string& token, const std::string& session, v1::Session* out,
                   v1::PreviewDelivery delivery = v1::PREVIEW_DELIVERY_UNSPECIFIED) {
    grpc::ClientContext ctx;
    Authorize(ctx, token);
    v1::GetSessionRequest req;
    req.set_session_id(session);
    req.set_preview_delivery(delivery);
    return sessions_->GetSession(&ctx, req, out);
  }

  std::string MustShare(const std::string& token, const std::string& session) {
    ShareResult r = Share(token, session, Photo());
    EXPECT_TRUE(r.status.ok()) << r.status.error_message();
    return r.response.document().document_id();
  }

  std::optional<double> V(const std::string& name, const LabelMap& labels = {}) const {
    return Value(*registry_, name, labels);
  }

  std::shared_ptr<prometheus::Registry> registry_ =
      std::make_shared<prometheus::Registry>();
  Metrics metrics_{*registry_};
  ObserverTee tee_{metrics_, observer_};
};

TEST_F(LifecycleTest, WithdrawReachesLiveAndLateWatchersWithoutTheBytes) {
  const v1::StartSessionResponse s = StartSession("w1");
  // A live watcher, open before the share.
  grpc::ClientContext live_ctx;
  Authorize(live_ctx, s.consumer_token());
  v1::WatchSessionRequest req;
  req.set_session_id("w1");
  auto live = sessions_->WatchSession(&live_ctx, req);
  const std::string doc = MustShare(s.agent_token(), "w1");
  ASSERT_TRUE(Withdraw(s.agent_token(), "w1", doc).ok());
  v1::SessionEvent e;
  ASSERT_TRUE(live->Read(&e));
  EXPECT_TRUE(e.has_document_shared());
  ASSERT_TRUE(live->Read(&e));
  ASSERT_TRUE(e.has_document_withdrawn()) << e.DebugString();
  EXPECT_EQ(e.sequence(), 2u);
  EXPECT_EQ(e.document_withdrawn().document_id(), doc);
  EXPECT_EQ(e.document_withdrawn().withdrawn_by(), v1::ROLE_AGENT);
  live_ctx.TryCancel();
  live->Finish();
  // A late watcher: the DocumentShared stays, without previews.
  std::vector<v1::SessionEvent> replay = ReadEvents(s.consumer_token(), "w1", 0, 2);
  ASSERT_EQ(replay.size(), 2u);
  EXPECT_EQ(replay[0].document_shared().document().document_id(), doc);
  EXPECT_EQ(replay[0].document_shared().document().previews_size(), 0);
  EXPECT_EQ(replay[0].document_shared().document().filename(), "");
  EXPECT_TRUE(replay[1].has_document_withdrawn());
  // Twice: OK, no second event; the admin may too.
  ASSERT_TRUE(Withdraw(kAdminToken, "w1", doc).ok());
  v1::Session session;
  ASSERT_TRUE(Get(kAdminToken, "w1", &session).ok());
  EXPECT_EQ(session.last_sequence(), 2u);
  EXPECT_EQ(session.documents_size(), 0);
  EXPECT_EQ(V("docshare_withdrawals_total"), 1);
  EXPECT_THAT(log_stream_.str(), HasSubstr("\"document_withdrawn\""));
}

TEST_F(LifecycleTest, AWithdrawnDocumentsFilenameIsNotLoggedAgain) {
  const v1::StartSessionResponse s = StartSession("w2");
  ShareOptions named;
  named.filename = "someone-elses-statement.jpg";
  ShareResult r = Share(s.agent_token(), "w2", Photo(), named);
  ASSERT_TRUE(r.status.ok());
  const size_t before = log_stream_.str().size();
  ASSERT_TRUE(Withdraw(s.agent_token(), "w2", r.response.document().document_id()).ok());
  ReadEvents(s.consumer_token(), "w2", 0, 2);
  EXPECT_THAT(log_stream_.str().substr(before), Not(HasSubstr("someone-elses")));
}

TEST_F(LifecycleTest, WithdrawErrorsCarryTheirCodeAndReason) {
  const v1::StartSessionResponse s = StartSession("w3", 0, /*consumer_may_share=*/true);
  const std::string by_agent = MustShare(s.agent_token(), "w3");
  grpc::Status denied = Withdraw(s.consumer_token(), "w3", by_agent);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ErrorInfoOf(denied).reason(), "PERMISSION_DENIED");
  grpc::Status unknown = Withdraw(s.agent_token(), "w3", "doc_nope");
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ErrorInfoOf(unknown).reason(), "DOCUMENT_NOT_FOUND");
  EXPECT_EQ(ErrorInfoOf(unknown).metadata().at("document_id"), "doc_nope");
  EXPECT_EQ(Withdraw(s.agent_token(), "other", by_agent).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  grpc::Status no_session = Withdraw(kAdminToken, "never-started", by_agent);
  EXPECT_EQ(no_session.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ErrorInfoOf(no_session).reason(), "NOT_FOUND");
  EXPECT_EQ(Withdraw("", "w3", by_agent).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(EndSession(kAdminToken, "w3").ok());
  grpc::Status ended = Withdraw(s.agent_token(), "w3", by_agent);
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ErrorInfoOf(ended).reason(), "FAILED_PRECONDITION");
}

TEST_F(LifecycleTest, AcknowledgementsReachTheAgentOnce) {
  const v1::StartSessionResponse s = StartSession("a1");
  const std::string doc = MustShare(s.agent_token(), "a1");
  ASSERT_TRUE(Ack(s.consumer_token(), "a1", doc).ok());
  ASSERT_TRUE(Ack(s.consumer_token(), "a1", doc).ok());  // a repeat: no event
  ASSERT_TRUE(Ack(s.consumer_token(), "a1", doc, v1::ACKNOWLEDGEMENT_CLOSED).ok());
  ASSERT_TRUE(Ack(s.agent_token(), "a1", doc).ok());
  ASSERT_TRUE(EndSession(kAdminToken, "a1").ok());
  v1::Session session;
  ASSERT_TRUE(Get(kAdminToken, "a1", &session).ok());
  EXPECT_EQ(session.state(), v1::SESSION_STATE_ENDED);
  EXPECT_EQ(session.last_sequence(), 5u);  // share, 3 acknowledgements, end
  EXPECT_EQ(V("docshare_acknowledgements_total", {{"acknowledgement", "displayed"}}), 2);
  EXPECT_EQ(V("docshare_acknowledgements_total", {{"acknowledgement", "closed"}}), 1);
  EXPECT_THAT(log_stream_.str(), HasSubstr("\"document_acknowledged\""));
}

TEST_F(LifecycleTest, AcknowledgementsAreSeenByAWatcherInOrder) {
  const v1::StartSessionResponse s = StartSession("a2");
  const std::string doc = MustShare(s.agent_token(), "a2");
  ASSERT_TRUE(Ack(s.consumer_token(), "a2", doc).ok());
  ASSERT_TRUE(Ack(s.consumer_token(), "a2", doc).ok());
  std::vector<v1::SessionEvent> events = ReadEvents(s.agent_token(), "a2", 0, 2);
  ASSERT_EQ(events.size(), 2u);
  ASSERT_TRUE(events[1].has_document_acknowledged());
  EXPECT_EQ(events[1].document_acknowledged().document_id(), doc);
  EXPECT_EQ(events[1].document_acknowledged().acknowledged_by(), v1::ROLE_CONSUMER);
  EXPECT_EQ(events[1].document_acknowledged().acknowledgement(),
            v1::ACKNOWLEDGEMENT_DISPLAYED);
  v1::Session session;
  ASSERT_TRUE(Get(s.agent_token(), "a2", &session).ok());
  EXPECT_EQ(session.last_sequence(), 2u);
}

TEST_F(LifecycleTest, AcknowledgeErrorsCarryTheirCodeAndReason) {
  const v1::StartSessionResponse s = StartSession("a3");
  const std::string doc = MustShare(s.agent_token(), "a3");
  EXPECT_EQ(Ack(kAdminToken, "a3", doc).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(
      Ack(s.consumer_token(), "a3", doc, v1::ACKNOWLEDGEMENT_UNSPECIFIED).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status unknown = Ack(s.consumer_token(), "a3", "doc_nope");
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ErrorInfoOf(unknown).reason(), "DOCUMENT_NOT_FOUND");
  ASSERT_TRUE(Withdraw(s.agent_token(), "a3", doc).ok());
  grpc::Status withdrawn = Ack(s.consumer_token(), "a3", doc);
  EXPECT_EQ(withdrawn.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ErrorInfoOf(withdrawn).reason(), "DOCUMENT_WITHDRAWN");
  ASSERT_TRUE(EndSession(kAdminToken, "a3").ok());
  EXPECT_EQ(Ack(s.consumer_token(), "a3", doc).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(LifecycleTest, GetSessionShowsTheDocumentsStillSharedWithUrls) {
  const v1::StartSessionResponse s = StartSession("g1", 600, true);
  const std::string first = MustShare(s.agent_token(), "g1");
  const std::string second = MustShare(s.consumer_token(), "g1");
  ASSERT_TRUE(Withdraw(s.agent_token(), "g1", first).ok());
  v1::Session session;
  ASSERT_TRUE(Get(s.consumer_token(), "g1", &session).ok());
  EXPECT_EQ(session.session_id(), "g1");
  EXPECT_EQ(session.state(), v1::SESSION_STATE_ACTIVE);
  EXPECT_EQ(session.expires_at().seconds(), s.expires_at().seconds());
  EXPECT_TRUE(session.consumer_may_share());
  EXPECT_EQ(session.last_sequence(), 3u);
  ASSERT_EQ(session.documents_size(), 1);
  const v1::Document& doc = session.documents(0);
  EXPECT_EQ(doc.document_id(), second);
  EXPECT_EQ(doc.shared_by(), v1::ROLE_CONSUMER);
  ASSERT_EQ(doc.previews_size(), 2);
  for (const v1::Preview& p : doc.previews()) {
    EXPECT_TRUE(p.data().empty());  // URL delivery is the default
    EXPECT_GT(p.size_bytes(), 0u);
    EXPECT_THAT(p.url(), StartsWith("/v1/previews/g1/"));
    EXPECT_THAT(p.url(), HasSubstr("/2/"));  // the sequence of its DocumentShared
  }
  v1::Session inline_session;
  ASSERT_TRUE(Get(kAdminToken, "g1", &inline_session, v1::PREVIEW_DELIVERY_INLINE).ok());
  ASSERT_EQ(inline_session.documents_size(), 1);
  EXPECT_EQ(inline_session.documents(0).previews(0).data().size(),
            inline_session.documents(0).previews(0).size_bytes());
  EXPECT_TRUE(inline_session.documents(0).previews(0).url().empty());
}

TEST_F(LifecycleTest, GetSessionCountsLiveWatchers) {
  const v1::StartSessionResponse s = StartSession("g2");
  grpc::ClientContext ctx;
  Authorize(ctx, s.consumer_token());
  v1::WatchSessionRequest req;
  req.set_session_id("g2");
  auto reader = sessions_->WatchSession(&ctx, req);
  reader->WaitForInitialMetadata();  // the watch is registered by now
  v1::Session session;
  ASSERT_TRUE(Get(s.agent_token(), "g2", &session).ok());
  EXPECT_EQ(session.watchers(), 1u);
  ctx.TryCancel();
  reader->Finish();
}

TEST_F(LifecycleTest, GetSessionErrors) {
  const v1::StartSessionResponse s = StartSession("g3");
  v1::Session session;
  EXPECT_EQ(Get(s.agent_token(), "other", &session).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Get(kAdminToken, "never", &session).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Get("", "g3", &session).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // A token of an earlier start of the id.
  ASSERT_TRUE(EndSession(kAdminToken, "g3").ok());
  StartSession("g3");
  EXPECT_EQ(Get(s.agent_token(), "g3", &session).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(LifecycleTest, LastSequenceArrivesBeforeAnyEvent) {
  const v1::StartSessionResponse s = StartSession("m1");
  MustShare(s.agent_token(), "m1");
  MustShare(s.agent_token(), "m1");
  grpc::ClientContext ctx;
  Authorize(ctx, s.consumer_token());
  v1::WatchSessionRequest req;
  req.set_session_id("m1");
  req.set_after_sequence(2);  // nothing to replay: no event will come
  auto reader = sessions_->WatchSession(&ctx, req);
  reader->WaitForInitialMetadata();
  auto it = ctx.GetServerInitialMetadata().find("docshare-last-sequence");
  ASSERT_NE(it, ctx.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(it->second.data(), it->second.size()), "2");
  ctx.TryCancel();
  reader->Finish();
}

TEST_F(LifecycleTest, UrlDeliveryCarriesSignedUrlsAndNoData) {
  const v1::StartSessionResponse s = StartSession("u1");
  MustShare(s.agent_token(), "u1");
  grpc::ClientContext ctx;
  Authorize(ctx, s.consumer_token());
  v1::WatchSessionRequest req;
  req.set_session_id("u1");
  req.set_preview_delivery(v1::PREVIEW_DELIVERY_URL);
  auto reader = sessions_->WatchSession(&ctx, req);
  v1::SessionEvent e;
  ASSERT_TRUE(reader->Read(&e));
  ASSERT_EQ(e.document_shared().document().previews_size(), 2);
  for (const v1::Preview& p : e.document_shared().document().previews()) {
    EXPECT_TRUE(p.data().empty());
    EXPECT_GT(p.size_bytes(), 0u);
    EXPECT_THAT(p.url(), StartsWith("/v1/previews/u1/"));
    EXPECT_THAT(p.url(), HasSubstr("signature="));
  }
  EXPECT_LT(e.ByteSizeLong(), 2000u);  // a few hundred bytes, not the previews
  ctx.TryCancel();
  reader->Finish();
}

class PublicUrlTest : public LifecycleTest {
 protected:
  void Configure(Config& config) override {
    config.public_url = "https://docshare.example.com";
  }
};

TEST_F(PublicUrlTest, UrlsAreAbsoluteWithAPublicUrl) {
  const v1::StartSessionResponse s = StartSession("u2");
  MustShare(s.agent_token(), "u2");
  v1::Session session;
  ASSERT_TRUE(Get(s.agent_token(), "u2", &session).ok());
  ASSERT_EQ(session.documents_size(), 1);
  EXPECT_THAT(session.documents(0).previews(0).url(),
              StartsWith("https://docshare.example.com/v1/previews/u2/"));
}

class HttpOffTest : public LifecycleTest {
 protected:
  void Configure(Config& config) override { config.http_address = "off"; }
};

TEST_F(HttpOffTest, UrlsAreEmptyWithoutTheHttpListener) {
  const v1::StartSessionResponse s = StartSession("u3");
  MustShare(s.agent_token(), "u3");
  v1::Session session;
  ASSERT_TRUE(Get(s.agent_token(), "u3", &session).ok());
  ASSERT_EQ(session.documents_size(), 1);
  EXPECT_TRUE(session.documents(0).previews(0).url().empty());
  EXPECT_TRUE(session.documents(0).previews(0).data().empty());
}

TEST_F(LifecycleTest, AWithdrawnDocumentLeavesThePreviewCache) {
  const v1::StartSessionResponse s = StartSession("c1");
  const std::string doc = MustShare(s.agent_token(), "c1");
  MustShare(s.agent_token(), "c1");  // the same bytes: a cache hit
  EXPECT_EQ(V("docshare_preview_cache_hits_total"), 1);
  ASSERT_TRUE(Withdraw(s.agent_token(), "c1", doc).ok());
  MustShare(s.agent_token(), "c1");  // rendered again: the entry is gone
  EXPECT_EQ(V("docshare_preview_cache_hits_total"), 1);
  EXPECT_EQ(V("docshare_preview_cache_misses_total"), 2);
}

}  // namespace
}  // namespace docshare::testing
