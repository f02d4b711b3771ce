// WatchSession over real gRPC: replay, live, resume, slow watchers, end.
#include <future>
#include <latch>
#include <thread>

#include "grpcpp/generic/generic_stub.h"
#include "tests/integration/harness.h"
#include "tests/support/files.h"
#include "tests/support/hostile.h"

namespace docshare::testing {
namespace {

std::string Photo() { return ReadFile(CorpusPath("sharp/320x240.jpg")); }

class Watch : public ServerTest {
 protected:
  void Configure(Config& config) override { config.watcher_queue = 8; }
  void SetUp() override {
    ServerTest::SetUp();
    session_ = StartSession("watched");
  }
  void ShareOk(const std::string& bytes) {
    ShareResult r = Share(session_.agent_token(), "watched", bytes);
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  }
  v1::StartSessionResponse session_;
};

void ExpectSequences(const std::vector<v1::SessionEvent>& events, uint64_t first) {
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence(), first + i) << "no gap, no duplicate";
  }
}

TEST_F(Watch, ReplayThenLiveWithData) {
  ShareOk(SmallJpeg(64, 48));
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + session_.consumer_token());
  v1::WatchSessionRequest req;
  req.set_session_id("watched");
  auto reader = sessions_->WatchSession(&ctx, req);
  v1::SessionEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.sequence(), 1u);
  ShareOk(Photo());  // live: the watcher is subscribed since it read the replay
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.sequence(), 2u);
  const v1::Document& d = event.document_shared().document();
  EXPECT_EQ(d.source_width(), 320u);
  ASSERT_EQ(d.previews_size(), 2);
  for (const v1::Preview& p : d.previews()) {
    ASSERT_GT(p.data().size(), 12u);
    EXPECT_EQ(p.data().substr(0, 4), "RIFF");
    EXPECT_EQ(p.data().substr(8, 4), "WEBP");
  }
  ASSERT_TRUE(EndSession(kAdminToken, "watched").ok());
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.sequence(), 3u);
  EXPECT_EQ(event.session_ended().reason(), "ended");
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(Watch, LateJoinersAndResumersGetEverythingAfterTheirCursor) {
  for (int i = 0; i < 5; ++i) ShareOk(SmallJpeg(10 + i, 10));
  std::vector<v1::SessionEvent> all = ReadEvents(session_.agent_token(), "watched", 0, 5);
  ASSERT_EQ(all.size(), 5u);
  ExpectSequences(all, 1);
  std::vector<v1::SessionEvent> rest = ReadEvents(kAdminToken, "watched", 3, 2);
  ASSERT_EQ(rest.size(), 2u);
  ExpectSequences(rest, 4);
  EXPECT_EQ(rest[0].document_shared().document().document_id(),
            all[3].document_shared().document().document_id());
}

TEST_F(Watch, ACursorBeyondTheLogIsOutOfRange) {
  ShareOk(SmallJpeg());
  std::vector<v1::SessionEvent> events;
  EXPECT_EQ(WatchAll(session_.agent_token(), "watched", 2, &events).error_code(),
            grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_TRUE(events.empty());
}

TEST_F(Watch, WhoMayWatch) {
  std::vector<v1::SessionEvent> events;
  EXPECT_EQ(WatchAll("", "watched", 0, &events).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  v1::StartSessionResponse other = StartSession("other");
  EXPECT_EQ(WatchAll(other.agent_token(), "watched", 0, &events).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(WatchAll(kAdminToken, "nobody", 0, &events).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(Watch, EndingTellsEveryWatcher) {
  ShareOk(SmallJpeg());
  std::vector<std::vector<v1::SessionEvent>> seen(3);
  std::vector<grpc::Status> statuses(3);
  std::vector<std::thread> watchers;
  std::latch subscribed(3);
  const std::string tokens[] = {session_.agent_token(), session_.consumer_token(),
                                kAdminToken};
  for (int i = 0; i < 3; ++i) {
    watchers.emplace_back([&, i] {
      auto channel = NewChannel();
      auto stub = v1::SessionService::NewStub(channel);
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", "Bearer " + tokens[i]);
      v1::WatchSessionRequest req;
      req.set_session_id("watched");
      auto reader = stub->WatchSession(&ctx, req);
      v1::SessionEvent event;
      bool counted = false;
      while (reader->Read(&event)) {
        seen[i].push_back(event);
        if (!counted) subscribed.count_down();
        counted = true;
      }
      if (!counted) subscribed.count_down();
      statuses[i] = reader->Finish();
    });
  }
  subscribed.wait();
  v1::EndSessionResponse resp;
  ASSERT_TRUE(EndSession(kAdminToken, "watched", &resp).ok());
  EXPECT_EQ(resp.documents_purged(), 1u);
  for (auto& t : watchers) t.join();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    ASSERT_EQ(seen[i].size(), 2u);
    EXPECT_EQ(seen[i][1].sequence(), 2u);
    EXPECT_EQ(seen[i][1].session_ended().reason(), "ended");
  }
}

TEST_F(Watch, ASlowWatcherIsCutOffAndResumesWithNothingLost) {
  constexpr int kShares = 60;
  ShareOk(Photo());
  // The slow watcher: its own channel without BDP probing, so flow control
  // stops the server's writes soon and its queue fills up.
  auto slow_channel = NewChannel(/*no_bdp=*/true);
  auto slow_stub = v1::SessionService::NewStub(slow_channel);
  grpc::ClientContext slow_ctx;
  slow_ctx.AddMetadata("authorization", "Bearer " + session_.consumer_token());
  v1::WatchSessionRequest req;
  req.set_session_id("watched");
  auto slow = slow_stub->WatchSession(&slow_ctx, req);
  v1::SessionEvent event;
  ASSERT_TRUE(slow->Read(&event));  // subscribed

  for (int i = 1; i < kShares; ++i) ShareOk(Photo() + std::string(i, '\0'));

  std::vector<v1::SessionEvent> received{event};
  while (slow->Read(&event)) received.push_back(event);
  grpc::Status status = slow->Finish();
  ASSERT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  ExpectSequences(received, 1);
  auto trailers = Trailers(slow_ctx);
  ASSERT_EQ(trailers.count("docshare-resume-after"), 1u);
  const uint64_t resume_after =
      std::stoull(trailers.find("docshare-resume-after")->second);
  EXPECT_EQ(resume_after, received.size());
  ASSERT_LT(resume_after, static_cast<uint64_t>(kShares));
  const google::rpc::ErrorInfo info = ErrorInfoOf(status);
  EXPECT_EQ(info.reason(), "WATCHER_TOO_SLOW");
  ASSERT_EQ(info.metadata().count("resume_after"), 1u);
  EXPECT_EQ(info.metadata().at("resume_after"), std::to_string(resume_after));

  // Resuming delivers the rest, exactly once, in order.
  std::vector<v1::SessionEvent> rest = ReadEvents(session_.consumer_token(), "watched",
                                                  resume_after, kShares - resume_after);
  ASSERT_EQ(rest.size(), kShares - resume_after);
  ExpectSequences(rest, resume_after + 1);
  // The uploader was never held up: every share above succeeded.
}

class BusyPool : public ServerTest {
 protected:
  void Configure(Config& config) override {
    config.isolation.workers = 1;
    config.isolation.queue = 0;
  }
};

TEST_F(BusyPool, AFullRenderPoolIsResourceExhaustedWithoutAReason) {
  v1::StartSessionResponse s = StartSession("busy");
  std::latch release(1), started(1);
  // Occupy the only worker with a job that waits for the test.
  ASSERT_TRUE(app_->render_pool()
                  .Submit([&] {
                    started.count_down();
                    release.wait();
                  })
                  .ok());
  started.wait();
  ShareResult r = Share(s.agent_token(), "busy", SmallJpeg());
  release.count_down();
  // The worker leaves the job (bounded wait, no fixed sleep).
  for (int i = 0; i < 1000000 && app_->render_pool().in_flight() > 0; ++i) {
    std::this_thread::yield();
  }
  ASSERT_EQ(app_->render_pool().in_flight(), 0);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(r.trailer("docshare-reject-reason"), "<absent>");
  // Once the worker is free, the same share goes through.
  EXPECT_TRUE(Share(s.agent_token(), "busy", SmallJpeg()).status.ok());
}

// WatchSession is a raw method (each event serialized once for all
// watchers): the server parses the request itself, and bytes that are no
// WatchSessionRequest end the call the way a generated method would, with
// INTERNAL, and nothing else.
TEST_F(Watch, ARequestThatIsNotAWatchSessionRequestIsInternal) {
  grpc::GenericStub stub(NewChannel());
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + session_.consumer_token());
  const std::string garbage =
      "\x0a\xff\xff\xff\xff\x0f";  // field 1: a length past the end
  grpc::Slice slice(garbage);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/docshare.v1.SessionService/WatchSession", grpc::StubOptions(),
                 &request, &response, [&](grpc::Status s) { done.set_value(s); });
  grpc::Status status = done.get_future().get();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_NE(status.error_message().find("WatchSessionRequest"), std::string::npos)
      << status.error_message();
  // The server carries on: a real watcher of the same session still works.
  ShareOk(SmallJpeg());
  EXPECT_EQ(ReadEvents(session_.consumer_token(), "watched", 0, 1).size(), 1u);
}

}  // namespace
}  // namespace docshare::testing
