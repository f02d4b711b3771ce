// SessionService over real gRPC: start, end, tokens, and every status code.
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "tests/integration/harness.h"
#include "tests/support/files.h"
#include "tests/support/hostile.h"

namespace docshare::testing {
namespace {

using Sessions = ServerTest;

TEST_F(Sessions, StartNeedsTheAdminToken) {
  v1::StartSessionRequest req;
  req.set_session_id("s1");
  v1::StartSessionResponse resp;
  EXPECT_EQ(TryStartSession("", req, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(TryStartSession("forged", req, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  v1::StartSessionResponse started = StartSession("s0");
  EXPECT_EQ(TryStartSession(started.agent_token(), req, &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(Sessions, StartValidatesTheId) {
  for (std::string id : {std::string(""), std::string(129, 'a'), std::string("a/b"),
                         std::string("sp ace"), std::string("é")}) {
    v1::StartSessionRequest req;
    req.set_session_id(id);
    v1::StartSessionResponse resp;
    EXPECT_EQ(TryStartSession(kAdminToken, req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT)
        << id;
  }
  EXPECT_FALSE(StartSession(std::string(128, 'Z')).agent_token().empty());
  EXPECT_FALSE(StartSession("A-z_0.9").agent_token().empty());
}

TEST_F(Sessions, StartIsIdempotentWithTheSameSettingsOnly) {
  v1::StartSessionResponse first = StartSession("retry", 600, false);
  v1::StartSessionResponse again = StartSession("retry", 600, false);
  EXPECT_EQ(again.session_id(), "retry");
  EXPECT_NE(again.agent_token(), "");
  EXPECT_EQ(again.expires_at().seconds(), first.expires_at().seconds());
  EXPECT_EQ(absl::FromUnixSeconds(first.expires_at().seconds()),
            clock_.Now() + absl::Seconds(600));
  // Both generations of tokens work: it is the same session.
  EXPECT_TRUE(Share(first.agent_token(), "retry", SmallJpeg()).status.ok());
  EXPECT_TRUE(Share(again.agent_token(), "retry", SmallJpeg(40, 30)).status.ok());

  v1::StartSessionRequest req;
  req.set_session_id("retry");
  req.set_ttl_seconds(601);
  v1::StartSessionResponse resp;
  EXPECT_EQ(TryStartSession(kAdminToken, req, &resp).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  req.set_ttl_seconds(600);
  req.set_consumer_may_share(true);
  EXPECT_EQ(TryStartSession(kAdminToken, req, &resp).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(Sessions, DefaultTtlIsTheConfiguredOne) {
  v1::StartSessionResponse s = StartSession("ttl", 0);
  EXPECT_EQ(absl::FromUnixSeconds(s.expires_at().seconds()),
            clock_.Now() + config_.session_ttl);
}

TEST_F(Sessions, EndPurgesAndIsFinal) {
  v1::StartSessionResponse s = StartSession("end-me");
  ASSERT_TRUE(Share(s.agent_token(), "end-me", SmallJpeg()).status.ok());
  ASSERT_TRUE(Share(s.agent_token(), "end-me", SmallJpeg(20, 20)).status.ok());
  v1::EndSessionResponse resp;
  EXPECT_EQ(EndSession(s.agent_token(), "end-me", &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(EndSession(kAdminToken, "end-me", &resp).ok());
  EXPECT_EQ(resp.documents_purged(), 2u);
  EXPECT_EQ(EndSession(kAdminToken, "end-me").error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(EndSession(kAdminToken, "never-started").error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(EndSession("", "end-me").error_code(), grpc::StatusCode::UNAUTHENTICATED);

  ShareResult after = Share(s.agent_token(), "end-me", SmallJpeg());
  EXPECT_EQ(after.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  std::vector<v1::SessionEvent> events;
  EXPECT_EQ(WatchAll(s.consumer_token(), "end-me", 0, &events).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(Sessions, RestartedIdIsANewSessionAndRefusesOldTokens) {
  v1::StartSessionResponse old = StartSession("again");
  ASSERT_TRUE(Share(old.agent_token(), "again", SmallJpeg()).status.ok());
  ASSERT_TRUE(EndSession(kAdminToken, "again").ok());
  v1::StartSessionResponse fresh = StartSession("again");
  EXPECT_EQ(Share(old.agent_token(), "again", SmallJpeg()).status.error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ShareResult shared = Share(fresh.agent_token(), "again", SmallJpeg());
  ASSERT_TRUE(shared.status.ok()) << shared.status.error_message();
  // The log of the new session starts at 1 again.
  std::vector<v1::SessionEvent> first = ReadEvents(fresh.agent_token(), "again", 0, 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].sequence(), 1u);
  EXPECT_EQ(first[0].document_shared().document().document_id(),
            shared.response.document().document_id());
  std::vector<v1::SessionEvent> events;
  EXPECT_EQ(WatchAll(old.agent_token(), "again", 0, &events).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

// Counts upload bytes the server has taken in: a chunk is counted only after
// the share's header was authorized.
class ChunkCounter final : public Observer {
 public:
  void BytesReceived(uint64_t bytes) override {
    absl::MutexLock lock(&mu_);
    received_ += bytes;
  }
  bool WaitFor(uint64_t bytes) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return received_ >= bytes; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(30));
  }

 private:
  absl::Mutex mu_;
  uint64_t received_ ABSL_GUARDED_BY(mu_) = 0;
};

class InFlightUpload : public ServerTest {
 protected:
  Observer& AppObserver() override { return tee_; }
  ChunkCounter chunks_;
  ObserverTee tee_{chunks_, observer_};
};

// Issue 12, attack 3: the agent of an ended session finishes an upload it
// began before the id was started again for someone else. It is refused,
// and the new session's watchers never receive it.
TEST_F(InFlightUpload, AnUploadOfAnEndedStartNeverLandsInTheIdsNextStart) {
  v1::StartSessionResponse old = StartSession("reused");
  const std::string jpeg = SmallJpeg();
  ASSERT_GT(jpeg.size(), 2u);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + old.agent_token());
  v1::ShareDocumentResponse response;
  auto writer = documents_->ShareDocument(&ctx, &response);
  v1::ShareDocumentRequest msg;
  msg.mutable_header()->set_session_id("reused");
  msg.mutable_header()->set_filename("late.jpg");
  msg.mutable_header()->set_size_bytes(jpeg.size());
  ASSERT_TRUE(writer->Write(msg));
  const size_t half = jpeg.size() / 2;
  msg.set_chunk(jpeg.substr(0, half));
  ASSERT_TRUE(writer->Write(msg));
  ASSERT_TRUE(chunks_.WaitFor(half));  // authorized, in flight

  ASSERT_TRUE(EndSession(kAdminToken, "reused").ok());
  v1::StartSessionResponse fresh = StartSession("reused");
  msg.set_chunk(jpeg.substr(half));
  ASSERT_TRUE(writer->Write(msg));
  writer->WritesDone();
  grpc::Status late = writer->Finish();
  EXPECT_EQ(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(late.error_message(), ::testing::HasSubstr("started again"));

  // The new start's log holds only its own document, at sequence 1.
  ShareResult own = Share(fresh.agent_token(), "reused", jpeg);
  ASSERT_TRUE(own.status.ok()) << own.status.error_message();
  std::vector<v1::SessionEvent> first =
      ReadEvents(fresh.consumer_token(), "reused", 0, 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].sequence(), 1u);
  EXPECT_EQ(first[0].document_shared().document().document_id(),
            own.response.document().document_id());
}

TEST_F(Sessions, ExpiryEndsTheSessionForWatchersAndSharers) {
  v1::StartSessionResponse s = StartSession("short", 30);
  ASSERT_TRUE(Share(s.agent_token(), "short", SmallJpeg()).status.ok());

  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + s.consumer_token());
  v1::WatchSessionRequest req;
  req.set_session_id("short");
  auto reader = sessions_->WatchSession(&ctx, req);
  v1::SessionEvent event;
  ASSERT_TRUE(reader->Read(&event));  // the replay: subscribed from here on
  EXPECT_EQ(event.sequence(), 1u);

  clock_.Advance(absl::Seconds(31));
  app_->backplane().ExpireDue();
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.sequence(), 2u);
  ASSERT_TRUE(event.has_session_ended());
  EXPECT_EQ(event.session_ended().reason(), "expired");
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_TRUE(reader->Finish().ok());

  // The tokens expired with the session.
  EXPECT_EQ(Share(s.agent_token(), "short", SmallJpeg()).status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  std::vector<v1::SessionEvent> events;
  EXPECT_EQ(WatchAll(kAdminToken, "short", 0, &events).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(EndSession(kAdminToken, "short").error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(Sessions, ForgottenAfterTheirTtlIsNotFound) {
  StartSession("gone", 10);
  ASSERT_TRUE(EndSession(kAdminToken, "gone").ok());
  clock_.Advance(absl::Hours(48));
  app_->backplane().ExpireDue();
  EXPECT_EQ(EndSession(kAdminToken, "gone").error_code(), grpc::StatusCode::NOT_FOUND);
  std::vector<v1::SessionEvent> events;
  EXPECT_EQ(WatchAll(kAdminToken, "gone", 0, &events).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace docshare::testing
