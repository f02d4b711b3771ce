#include "service/sessions/redis_backplane.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <hiredis/hiredis.h>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/clock.h"
#include "service/common/observer.h"
#include "service/sessions/make_backplane.h"
#include "service/sessions/watcher.h"
#include "tests/support/redis_server.h"
#include "tests/support/sessions.h"

namespace docshare {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::RedisServer;

using testing::Doc;
using testing::kWait;
using testing::Recorder;

std::vector<uint64_t> Sequences(const std::vector<EventPtr>& events) {
  std::vector<uint64_t> out;
  for (const EventPtr& e : events) out.push_back(e->sequence);
  return out;
}

const SessionEnded* AsEnded(const EventPtr& event) {
  return std::get_if<SessionEnded>(&event->event);
}

class RedisBackplaneTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { redis_ = new RedisServer(); }
  static void TearDownTestSuite() {
    delete redis_;
    redis_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(redis_->ok()) << "redis-server did not start";
    if (!redis_->Start()) GTEST_SKIP() << "redis-server did not restart";
    redis_->Cli("FLUSHALL");
    a_ = Make(caps_);
    b_ = Make(caps_);
  }

  std::unique_ptr<RedisBackplane> Make(SessionCaps caps) {
    auto bp = std::make_unique<RedisBackplane>(
        RedisAddress{"127.0.0.1", redis_->port(), 0}, clock_, caps, observer_);
    EXPECT_TRUE(bp->WaitHealthy(absl::Seconds(10)));
    return bp;
  }

  SessionSettings Settings(std::string id = "s1", absl::Duration ttl = absl::Minutes(10),
                           bool consumer_may_share = false) {
    return SessionSettings{std::move(id), ttl, consumer_may_share};
  }

  SessionInfo MustStart(Backplane& bp, std::string id = "s1",
                        absl::Duration ttl = absl::Minutes(10)) {
    absl::StatusOr<SessionInfo> info = bp.Start(Settings(std::move(id), ttl));
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? *info : SessionInfo{};
  }

  EventPtr MustAppend(Backplane& bp, std::string_view id = "s1", uint64_t bytes = 100) {
    absl::StatusOr<EventPtr> event = bp.Append(id, Doc(bytes));
    EXPECT_TRUE(event.ok()) << event.status();
    return event.ok() ? *event : nullptr;
  }

  Backplane::Subscribed MustSubscribe(Backplane& bp, Subscriber& subscriber,
                                      uint64_t after = 0, std::string_view id = "s1") {
    absl::StatusOr<Backplane::Subscribed> s = bp.Subscribe(id, after, &subscriber);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : Backplane::Subscribed{};
  }

  static RedisServer* redis_;
  FakeClock clock_;
  NullObserver observer_;
  SessionCaps caps_;
  std::unique_ptr<RedisBackplane> a_;  // two replicas on one Redis
  std::unique_ptr<RedisBackplane> b_;
};

RedisServer* RedisBackplaneTest::redis_ = nullptr;

TEST_F(RedisBackplaneTest, StartMintsNonceAndExpiry) {
  SessionInfo info = MustStart(*a_);
  EXPECT_EQ(info.id, "s1");
  EXPECT_EQ(info.nonce.size(), 22u);
  EXPECT_EQ(info.expires_at, clock_.Now() + absl::Minutes(10));
  EXPECT_EQ(info.state, SessionState::kActive);
  absl::StatusOr<SessionInfo> on_b = b_->Get("s1");
  ASSERT_TRUE(on_b.ok()) << on_b.status();
  EXPECT_EQ(on_b->nonce, info.nonce);
  EXPECT_EQ(on_b->ttl, absl::Minutes(10));
  EXPECT_EQ(on_b->expires_at, info.expires_at);
}

TEST_F(RedisBackplaneTest, StartIsIdempotentAcrossReplicas) {
  SessionInfo first = MustStart(*a_);
  SessionInfo again = MustStart(*b_);
  EXPECT_EQ(again.nonce, first.nonce);
  EXPECT_EQ(b_->Start(Settings("s1", absl::Minutes(5))).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(b_->Start(Settings("s1", absl::Minutes(10), true)).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(a_->Start(Settings("s2", absl::ZeroDuration())).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RedisBackplaneTest, SequencesAreAssignedByRedisAcrossReplicas) {
  MustStart(*a_);
  MustStart(*a_, "s2");
  EXPECT_EQ(MustAppend(*a_)->sequence, 1u);
  EXPECT_EQ(MustAppend(*b_)->sequence, 2u);
  EXPECT_EQ(MustAppend(*a_, "s2")->sequence, 1u);
  EXPECT_EQ(MustAppend(*b_)->sequence, 3u);
}

TEST_F(RedisBackplaneTest, ReplayOnAnotherReplicaCarriesTheData) {
  MustStart(*a_);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a_->Append("s1", Doc(10 + i)).ok());
  Recorder r;
  Backplane::Subscribed s = MustSubscribe(*b_, r, 1);
  ASSERT_THAT(Sequences(s.replay), ElementsAre(2, 3));
  const auto& doc = *std::get<DocumentShared>(s.replay[1]->event).document;
  EXPECT_EQ(doc.filename, "a.png");
  EXPECT_EQ(*doc.previews.at(0).data, std::string(12, 'x'));
  EXPECT_EQ(s.replay[1]->time, clock_.Now());
}

TEST_F(RedisBackplaneTest, AfterSequenceBeyondTheEndIsOutOfRange) {
  MustStart(*a_);
  MustAppend(*a_);
  Recorder r;
  EXPECT_EQ(b_->Subscribe("s1", 2, &r).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(b_->Subscribe("s1", 1, &r).ok());
}

TEST_F(RedisBackplaneTest, ShareOnOneReplicaReachesWatchersOnBoth) {
  MustStart(*a_);
  MustAppend(*a_);
  Recorder on_a, on_b;
  Backplane::Subscribed sa = MustSubscribe(*a_, on_a);
  Backplane::Subscribed sb = MustSubscribe(*b_, on_b);
  EXPECT_THAT(Sequences(sb.replay), ElementsAre(1));
  MustAppend(*a_, "s1", 7);
  MustAppend(*b_, "s1", 8);
  ASSERT_TRUE(on_a.WaitFor(2));
  ASSERT_TRUE(on_b.WaitFor(2));
  EXPECT_THAT(on_a.sequences(), ElementsAre(2, 3));
  EXPECT_THAT(on_b.sequences(), ElementsAre(2, 3));
  EXPECT_EQ(*std::get<DocumentShared>(on_b.events()[0]->event).document->previews[0].data,
            std::string(7, 'x'));
}

// A document is announced on Pub/Sub without its previews: every replica
// hears every announcement, but only those with a watcher of the session
// read the previews (once) from the log.
TEST_F(RedisBackplaneTest, ADocumentIsAnnouncedWithoutItsPreviews) {
  redisContext* listener = redisConnect("127.0.0.1", redis_->port());
  ASSERT_TRUE(listener != nullptr && listener->err == 0);
  const timeval timeout{5, 0};  // a broken test fails instead of hanging
  redisSetTimeout(listener, timeout);
  freeReplyObject(redisCommand(listener, "PSUBSCRIBE docshare:events:*"));
  const SessionInfo info = MustStart(*a_);
  Recorder on_b;
  Backplane::Subscribed sb = MustSubscribe(*b_, on_b);
  MustAppend(*a_, "s1", 100000);
  void* raw = nullptr;
  ASSERT_EQ(redisGetReply(listener, &raw), REDIS_OK);
  auto* reply = static_cast<redisReply*>(raw);
  ASSERT_EQ(reply->type, REDIS_REPLY_ARRAY);
  ASSERT_EQ(reply->elements, 4u);
  EXPECT_EQ(std::string(reply->element[2]->str, reply->element[2]->len),
            "docshare:events:s1");
  EXPECT_EQ(std::string(reply->element[3]->str, reply->element[3]->len), info.nonce + " 1");
  freeReplyObject(reply);
  redisFree(listener);
  // The watcher on the other replica still gets the previews' bytes.
  ASSERT_TRUE(on_b.WaitFor(1));
  EXPECT_EQ(*std::get<DocumentShared>(on_b.events()[0]->event).document->previews[0].data,
            std::string(100000, 'x'));
}

TEST_F(RedisBackplaneTest, NoGapNoDuplicateAtTheSeamUnderConcurrentAppends) {
  MustStart(*a_);
  constexpr int kEvents = 200;
  std::atomic<bool> go{false};
  std::thread writer([&] {
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < kEvents; ++i) ASSERT_TRUE(a_->Append("s1", Doc(10)).ok());
  });
  std::vector<std::unique_ptr<Watcher>> watchers;
  std::vector<std::unique_ptr<Subscription>> subs;
  go.store(true);
  for (int i = 0; i < 8; ++i) {
    auto w = std::make_unique<Watcher>(100000, nullptr);
    absl::StatusOr<Backplane::Subscribed> s = b_->Subscribe("s1", 0, w.get());
    ASSERT_TRUE(s.ok()) << s.status();
    w->SetReplay(std::move(s->replay));
    subs.push_back(std::move(s->live));
    watchers.push_back(std::move(w));
  }
  writer.join();
  for (auto& w : watchers) {
    std::vector<uint64_t> got;
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (got.size() < kEvents && std::chrono::steady_clock::now() < deadline) {
      if (EventPtr e = w->Pop()) {
        got.push_back(e->sequence);
      } else {
        std::this_thread::yield();  // bounded by the deadline
      }
    }
    ASSERT_EQ(got.size(), static_cast<size_t>(kEvents));
    for (int i = 0; i < kEvents; ++i) ASSERT_EQ(got[i], static_cast<uint64_t>(i + 1));
  }
}

TEST_F(RedisBackplaneTest, EndOnOneReplicaEndsWatchersEverywhereAndPurges) {
  MustStart(*a_);
  MustAppend(*a_);
  MustAppend(*a_);
  Recorder on_a, on_b;
  Backplane::Subscribed sa = MustSubscribe(*a_, on_a);
  Backplane::Subscribed sb = MustSubscribe(*b_, on_b);
  absl::StatusOr<uint32_t> purged = b_->End("s1", "ended");
  ASSERT_TRUE(purged.ok()) << purged.status();
  EXPECT_EQ(*purged, 2u);
  ASSERT_TRUE(on_a.WaitFor(1));
  ASSERT_TRUE(on_b.WaitFor(1));
  for (Recorder* r : {&on_a, &on_b}) {
    ASSERT_EQ(r->events().size(), 1u);
    EXPECT_EQ(r->events()[0]->sequence, 3u);
    ASSERT_NE(AsEnded(r->events()[0]), nullptr);
    EXPECT_EQ(AsEnded(r->events()[0])->reason, "ended");
  }
  // The previews are gone from Redis; the log keeps only SessionEnded.
  absl::StatusOr<SessionInfo> info = a_->Get("s1");
  ASSERT_TRUE(info.ok());
  EXPECT_THAT(redis_->Cli("XLEN docshare:log:s1:" + info->nonce), HasSubstr("1"));
  EXPECT_THAT(redis_->Cli("GET docshare:retained"), HasSubstr("0"));
}

TEST_F(RedisBackplaneTest, EndedSessionIsFailedPreconditionEverywhere) {
  MustStart(*a_);
  ASSERT_TRUE(a_->End("s1", "ended").ok());
  Recorder r;
  EXPECT_EQ(b_->End("s1", "ended").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(b_->Append("s1", Doc()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<Backplane::Subscribed> s = b_->Subscribe("s1", 0, &r);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("ended"));
  EXPECT_EQ(b_->Get("s1")->state, SessionState::kEnded);
}

TEST_F(RedisBackplaneTest, UnknownSessionIsNotFound) {
  Recorder r;
  EXPECT_EQ(a_->Get("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(a_->End("nope", "ended").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(a_->Append("nope", Doc()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(a_->Subscribe("nope", 0, &r).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RedisBackplaneTest, RestartAfterEndIsANewSession) {
  SessionInfo first = MustStart(*a_);
  MustAppend(*a_);
  ASSERT_TRUE(a_->End("s1", "ended").ok());
  SessionInfo second = MustStart(*b_);
  EXPECT_NE(second.nonce, first.nonce);
  EXPECT_EQ(MustAppend(*a_)->sequence, 1u);
  Recorder r;
  EXPECT_THAT(Sequences(MustSubscribe(*b_, r).replay), ElementsAre(1));
}

TEST_F(RedisBackplaneTest, ExpiryEndsTheSessionOnceWhicheverReplicaSweeps) {
  MustStart(*a_, "s1", absl::Minutes(1));
  MustAppend(*a_);
  Recorder on_a, on_b;
  Backplane::Subscribed sa = MustSubscribe(*a_, on_a);
  Backplane::Subscribed sb = MustSubscribe(*b_, on_b);
  clock_.Advance(absl::Minutes(1));
  std::thread other([&] { a_->ExpireDue(); });
  b_->ExpireDue();
  other.join();
  ASSERT_TRUE(on_a.WaitFor(1));
  ASSERT_TRUE(on_b.WaitFor(1));
  MustStart(*a_, "probe");  // a round trip after the sweeps: any duplicate is here by now
  MustAppend(*a_, "probe");
  Recorder probe;
  Backplane::Subscribed sp = MustSubscribe(*b_, probe, 0, "probe");
  for (Recorder* r : {&on_a, &on_b}) {
    ASSERT_EQ(r->events().size(), 1u);
    EXPECT_EQ(r->events()[0]->sequence, 2u);
    EXPECT_EQ(AsEnded(r->events()[0])->reason, "expired");
  }
  Recorder late;
  absl::StatusOr<Backplane::Subscribed> s = b_->Subscribe("s1", 0, &late);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("expired"));
}

TEST_F(RedisBackplaneTest, GetExpiresLazilyBeforeTheSweep) {
  MustStart(*a_, "s1", absl::Minutes(1));
  Recorder r;
  Backplane::Subscribed s = MustSubscribe(*a_, r);
  clock_.Advance(absl::Minutes(2));
  EXPECT_EQ(b_->Get("s1")->state, SessionState::kExpired);
  ASSERT_TRUE(r.WaitFor(1));
  EXPECT_EQ(AsEnded(r.events()[0])->reason, "expired");
}

TEST_F(RedisBackplaneTest, EndedIdIsForgottenAfterItsTtl) {
  MustStart(*a_, "s1", absl::Minutes(1));
  ASSERT_TRUE(a_->End("s1", "ended").ok());
  clock_.Advance(absl::Seconds(59));
  EXPECT_EQ(b_->End("s1", "ended").status().code(),
            absl::StatusCode::kFailedPrecondition);
  clock_.Advance(absl::Seconds(1));
  b_->ExpireDue();
  EXPECT_EQ(a_->Get("s1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(redis_->Cli("EXISTS docshare:session:s1"), HasSubstr("0"));
  MustStart(*b_, "s1");  // and the id starts again
}

TEST_F(RedisBackplaneTest, DocumentCapHoldsAcrossReplicas) {
  caps_.max_documents = 2;
  a_ = Make(caps_);
  b_ = Make(caps_);
  MustStart(*a_);
  MustAppend(*a_);
  MustAppend(*b_);
  absl::StatusOr<EventPtr> third = a_->Append("s1", Doc());
  EXPECT_EQ(third.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(third.status().message(), HasSubstr("2 documents"));
}

TEST_F(RedisBackplaneTest, SessionBytesCapIsFailedPrecondition) {
  caps_.max_session_bytes = 250;
  a_ = Make(caps_);
  MustStart(*a_);
  MustAppend(*a_, "s1", 200);
  EXPECT_EQ(a_->Append("s1", Doc(51)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  MustAppend(*a_, "s1", 50);
}

TEST_F(RedisBackplaneTest, GlobalBytesCapHoldsAcrossReplicasAndEndReleases) {
  caps_.max_retained_bytes = 300;
  a_ = Make(caps_);
  b_ = Make(caps_);
  MustStart(*a_, "s1");
  MustStart(*a_, "s2");
  MustAppend(*a_, "s1", 200);
  absl::StatusOr<EventPtr> over = b_->Append("s2", Doc(101));
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(b_->End("s1", "ended").ok());
  MustAppend(*b_, "s2", 300);
}

TEST_F(RedisBackplaneTest, UnsubscribeStopsDelivery) {
  MustStart(*a_);
  Recorder kept, dropped;
  Backplane::Subscribed sk = MustSubscribe(*b_, kept);
  { Backplane::Subscribed sd = MustSubscribe(*b_, dropped); }
  MustAppend(*a_);
  ASSERT_TRUE(kept.WaitFor(1));
  EXPECT_TRUE(dropped.events().empty());
}

TEST_F(RedisBackplaneTest, SubscriptionMayOutliveTheBackplane) {
  MustStart(*a_);
  Recorder r;
  Backplane::Subscribed s = MustSubscribe(*b_, r);
  b_.reset();
  s.live.reset();
}

TEST_F(RedisBackplaneTest, MissedMessagesAreFilledFromTheLogAfterAReconnect) {
  MustStart(*a_);
  Recorder r;
  Backplane::Subscribed s = MustSubscribe(*b_, r);
  MustAppend(*a_);
  ASSERT_TRUE(r.WaitFor(1));
  // Cut every replica's Pub/Sub connection; what is appended until they
  // reconnect is never published to them.
  redis_->Cli("CLIENT KILL TYPE pubsub");
  for (int i = 0; i < 5; ++i) MustAppend(*a_);
  ASSERT_TRUE(r.WaitFor(6));
  ASSERT_TRUE(b_->WaitHealthy(absl::Seconds(10)));
  MustAppend(*a_);
  ASSERT_TRUE(r.WaitFor(7));
  EXPECT_THAT(r.sequences(), ElementsAre(1, 2, 3, 4, 5, 6, 7));
}

TEST_F(RedisBackplaneTest, RedisDownFailsFastAndRecoversByItself) {
  MustStart(*a_);
  MustAppend(*a_);
  Recorder r;
  Backplane::Subscribed s = MustSubscribe(*b_, r);
  redis_->Stop();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(a_->Append("s1", Doc()).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a_->Get("s1").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (a_->Healthy() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_FALSE(a_->Healthy());
  // The live watcher is told to resume instead of waiting on a dead backplane.
  EXPECT_TRUE(r.WaitLost());
  a_->ExpireDue();  // must not hang or crash either
  ASSERT_TRUE(redis_->Start());
  ASSERT_TRUE(a_->WaitHealthy(absl::Seconds(10)));
  ASSERT_TRUE(b_->WaitHealthy(absl::Seconds(10)));
  // This Redis keeps nothing on disk: the session is gone, but the
  // backplane works again without a restart.
  EXPECT_EQ(a_->Get("s1").status().code(), absl::StatusCode::kNotFound);
  MustStart(*a_, "s2");
  Recorder again;
  Backplane::Subscribed s2 = MustSubscribe(*b_, again, 0, "s2");
  MustAppend(*a_, "s2");
  ASSERT_TRUE(again.WaitFor(1));
}

TEST(MakeBackplaneTest, ParsesUrls) {
  absl::StatusOr<RedisAddress> a = ParseRedisUrl("redis://cache.internal:6380/2");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "cache.internal");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 2);
  a = ParseRedisUrl("redis://h");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->port, 6379);
  EXPECT_EQ(a->db, 0);
  for (const char* bad : {"redis://", "redis://h:x", "redis://h:0", "redis://h:70000",
                          "redis://h/x", "rediss://h", "redis://u:p@h:1"}) {
    EXPECT_EQ(ParseRedisUrl(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  FakeClock clock;
  NullObserver observer;
  auto memory = MakeBackplane("memory", clock, SessionCaps{}, observer);
  ASSERT_TRUE(memory.ok());
  EXPECT_TRUE((*memory)->Healthy());
  EXPECT_FALSE(MakeBackplane("redis://h:x", clock, SessionCaps{}, observer).ok());
}

TEST(RedisBackplaneOfflineTest, StartsUnhealthyWithoutRedisAndFailsFast) {
  FakeClock clock;
  NullObserver observer;
  RedisBackplane bp(RedisAddress{"127.0.0.1", testing::FreePort(), 0}, clock,
                    SessionCaps{}, observer);
  EXPECT_FALSE(bp.Healthy());
  EXPECT_EQ(bp.Start({"s1", absl::Minutes(1), false}).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace docshare
