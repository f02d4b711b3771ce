// The session store contract, run against both stores: MemoryStore (one
// replica: "a" and "b" are the same object) and RedisStore (two replicas
// on one real redis-server started by the test).

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/clock.h"
#include "service/common/error_info.h"
#include "service/common/observer.h"
#include "service/sessions/memory_store.h"
#include "service/sessions/redis_store.h"
#include "tests/support/redis_server.h"
#include "tests/support/sessions.h"

namespace docshare {
namespace {

using testing::AppendNow;
using testing::Doc;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::kWait;
using testing::Recorder;

// Records the preview SHA-256s a purge listener hears of.
class PurgeRecorder {
 public:
  PurgeListener Listener() {
    return [this](const std::vector<std::string>& sha256) {
      absl::MutexLock lock(&mu_);
      heard_.insert(sha256.begin(), sha256.end());
    };
  }
  bool WaitFor(const std::string& sha256) {
    absl::MutexLock lock(&mu_);
    auto heard = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return heard_.contains(sha256);
    };
    return mu_.AwaitWithTimeout(absl::Condition(&heard), absl::FromChrono(kWait));
  }

 private:
  absl::Mutex mu_;
  std::set<std::string> heard_ ABSL_GUARDED_BY(mu_);
};

struct MemoryFixture {
  static constexpr bool kReplicas = false;
  explicit MemoryFixture(const Clock& clock, SessionCaps caps) {
    a = std::make_unique<MemoryStore>(clock, caps, observer);
  }
  SessionStore& A() { return *a; }
  SessionStore& B() { return *a; }
  uint64_t Retained() const { return a->retained_bytes(); }
  void ResetB() { a.reset(); }
  NullObserver observer;
  std::unique_ptr<MemoryStore> a;
};

struct RedisFixture {
  static constexpr bool kReplicas = true;
  static testing::RedisServer* redis;
  RedisFixture(const Clock& clock, SessionCaps caps) {
    if (redis == nullptr) redis = new testing::RedisServer();  // one per test binary
    EXPECT_TRUE(redis->ok()) << "redis-server did not start";
    redis->Cli("FLUSHALL");
    for (auto* bp : {&a, &b}) {
      *bp = std::make_unique<RedisStore>(RedisAddress{"127.0.0.1", redis->port(), 0, {}},
                                         clock, caps, observer);
      EXPECT_TRUE((*bp)->WaitHealthy(absl::Seconds(10)));
    }
  }
  SessionStore& A() { return *a; }
  SessionStore& B() { return *b; }
  uint64_t Retained() const {
    uint64_t v = 0;
    return absl::SimpleAtoi(
               absl::StripAsciiWhitespace(redis->Cli("GET docshare:retained")), &v)
               ? v
               : 0;
  }
  void ResetB() { b.reset(); }
  NullObserver observer;
  std::unique_ptr<RedisStore> a, b;
};
testing::RedisServer* RedisFixture::redis = nullptr;

// Stops the suite's redis-server when the test binary ends.
class RedisStoreEnvironment final : public ::testing::Environment {
 public:
  void TearDown() override {
    delete RedisFixture::redis;
    RedisFixture::redis = nullptr;
  }
};
[[maybe_unused]] ::testing::Environment* const kRedisStoreEnvironment =
    ::testing::AddGlobalTestEnvironment(new RedisStoreEnvironment);

template <typename Store>
class StoreContractTest : public ::testing::Test {
 protected:
  void SetUp() override { Rebuild(SessionCaps{}); }

  void Rebuild(SessionCaps caps) {
    store_.reset();
    store_ = std::make_unique<Store>(clock_, caps);
    a().SetPurgeListener(purged_on_a_.Listener());
    if (Store::kReplicas) b().SetPurgeListener(purged_on_b_.Listener());
  }

  SessionStore& a() { return store_->A(); }
  SessionStore& b() { return store_->B(); }

  SessionInfo MustStart(std::string id = "s1", absl::Duration ttl = absl::Minutes(10),
                        SessionStore* on = nullptr) {
    absl::StatusOr<SessionInfo> info =
        (on ? *on : a()).Start({std::move(id), ttl, /*consumer_may_share=*/true});
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? *info : SessionInfo{};
  }

  EventPtr MustAppend(SessionStore& bp, std::string_view id = "s1",
                      uint64_t bytes = 100) {
    absl::StatusOr<EventPtr> event = AppendNow(bp, id, Doc(bytes));
    EXPECT_TRUE(event.ok()) << event.status();
    return event.ok() ? *event : nullptr;
  }

  uint64_t Retained() const { return store_->Retained(); }

  static std::shared_ptr<const Document> SharedDoc(std::string id, Role by,
                                                   uint64_t bytes = 100) {
    auto doc = std::make_shared<Document>();
    doc->document_id = id;
    doc->session_id = "s1";
    doc->filename = "statement-of-" + id + ".png";
    doc->shared_by = by;
    for (Rendition r : {Rendition::kThumbnail, Rendition::kDisplay}) {
      Preview p;
      p.rendition = r;
      p.mime_type = "image/webp";
      p.data = std::make_shared<const std::string>(bytes, 'x');
      p.sha256 = id + (r == Rendition::kDisplay ? "-display" : "-thumbnail");
      doc->previews.push_back(std::move(p));
    }
    return doc;
  }

  EventPtr MustShare(std::string id, Role by = Role::kAgent, uint64_t bytes = 100) {
    absl::StatusOr<EventPtr> event =
        AppendNow(a(), "s1", SharedDoc(std::move(id), by, bytes));
    EXPECT_TRUE(event.ok()) << event.status();
    return event.ok() ? *event : nullptr;
  }

  SessionStore::Subscribed MustSubscribe(SessionStore& bp, Subscriber& subscriber,
                                         uint64_t after = 0, std::string_view id = "s1") {
    absl::StatusOr<SessionStore::Subscribed> s = bp.Subscribe(id, after, &subscriber);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : SessionStore::Subscribed{};
  }

  FakeClock clock_;
  PurgeRecorder purged_on_a_, purged_on_b_;
  std::unique_ptr<Store> store_;
};

using Stores = ::testing::Types<MemoryFixture, RedisFixture>;
class StoreNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, MemoryFixture> ? "Memory" : "Redis";
  }
};
TYPED_TEST_SUITE(StoreContractTest, Stores, StoreNames);

const Document& SharedIn(const EventPtr& event) {
  return *std::get<DocumentShared>(event->event).document;
}

std::vector<uint64_t> Sequences(const std::vector<EventPtr>& events) {
  std::vector<uint64_t> out;
  for (const EventPtr& e : events) out.push_back(e->sequence);
  return out;
}

const SessionEnded* AsEnded(const EventPtr& event) {
  return std::get_if<SessionEnded>(&event->event);
}

// --- Sessions: start, get, end, append, subscribe (moved from the memory and
// Redis suites, which each had their own copy). ---------------------------

TYPED_TEST(StoreContractTest, StartMintsNonceAndExpiry) {
  const SessionInfo info = this->MustStart("s1", absl::Seconds(90));
  EXPECT_EQ(info.id, "s1");
  EXPECT_EQ(info.nonce.size(), 22u);  // 16 random bytes, base64url
  EXPECT_EQ(info.expires_at, this->clock_.Now() + absl::Seconds(90));
  EXPECT_EQ(info.state, SessionState::kActive);
  absl::StatusOr<SessionInfo> on_b = this->b().Get("s1");
  ASSERT_TRUE(on_b.ok()) << on_b.status();
  EXPECT_EQ(on_b->nonce, info.nonce);
  EXPECT_EQ(on_b->ttl, absl::Seconds(90));
  EXPECT_EQ(on_b->expires_at, info.expires_at);
}

TYPED_TEST(StoreContractTest, AfterSequenceBeyondTheEndIsOutOfRange) {
  this->MustStart();
  this->MustAppend(this->a());
  Recorder r;
  EXPECT_EQ(this->b().Subscribe("s1", 2, &r).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(this->b().Subscribe("s1", 1, &r).ok());
  this->MustStart("empty");
  Recorder e;
  EXPECT_EQ(this->b().Subscribe("empty", 1, &e).status().code(),
            absl::StatusCode::kOutOfRange);
}

// Redis reads a replay a page (8 entries) at a time: 21 entries are three
// pages, whole and in order, from the start and from a cursor, then live.
TYPED_TEST(StoreContractTest, AReplayLongerThanAPageIsWholeAndInOrderThenLive) {
  this->MustStart();
  std::vector<uint64_t> all;
  for (int i = 0; i < 21; ++i) {
    EventPtr e = this->MustAppend(this->a(), "s1", 10);
    ASSERT_NE(e, nullptr);
    all.push_back(e->sequence);
  }
  Recorder from_start, from_five;
  SessionStore::Subscribed whole = this->MustSubscribe(this->b(), from_start);
  EXPECT_EQ(Sequences(whole.replay), all);
  SessionStore::Subscribed rest = this->MustSubscribe(this->b(), from_five, all[4]);
  EXPECT_EQ(Sequences(rest.replay), std::vector<uint64_t>(all.begin() + 5, all.end()));
  const EventPtr live = this->MustAppend(this->a(), "s1", 10);
  ASSERT_NE(live, nullptr);
  ASSERT_TRUE(from_start.WaitFor(1));
  ASSERT_TRUE(from_five.WaitFor(1));
  EXPECT_EQ(Sequences(from_start.events()), std::vector<uint64_t>{live->sequence});
  EXPECT_EQ(Sequences(from_five.events()), std::vector<uint64_t>{live->sequence});
}

TYPED_TEST(StoreContractTest, EndedSessionIsFailedPreconditionEverywhere) {
  this->MustStart();
  this->MustAppend(this->a());
  ASSERT_TRUE(this->a().End("s1", "ended").ok());
  Recorder r;
  EXPECT_EQ(this->b().End("s1", "ended").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(AppendNow(this->b(), "s1", Doc()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<SessionStore::Subscribed> s = this->b().Subscribe("s1", 0, &r);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("ended"));
  EXPECT_EQ(this->b().Get("s1")->state, SessionState::kEnded);
}

TYPED_TEST(StoreContractTest, UnknownSessionIsNotFound) {
  Recorder r;
  EXPECT_EQ(this->a().Get("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->a().End("nope", "ended").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(AppendNow(this->a(), "nope", Doc()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(this->a().Subscribe("nope", 0, &r).status().code(),
            absl::StatusCode::kNotFound);
}

TYPED_TEST(StoreContractTest, RestartAfterEndIsANewSession) {
  const SessionInfo first = this->MustStart();
  this->MustAppend(this->a());
  Recorder old_watcher;
  SessionStore::Subscribed old_sub = this->MustSubscribe(this->a(), old_watcher);
  ASSERT_TRUE(this->a().End("s1", "ended").ok());
  ASSERT_TRUE(old_watcher.WaitFor(1));
  const SessionInfo second = this->MustStart("s1", absl::Minutes(10), &this->b());
  EXPECT_NE(second.nonce, first.nonce);
  EXPECT_EQ(second.state, SessionState::kActive);
  EXPECT_EQ(this->MustAppend(this->a())->sequence, 1u);
  Recorder r;
  EXPECT_THAT(Sequences(this->MustSubscribe(this->b(), r).replay), ElementsAre(1));
  // The old session's watcher saw its end and nothing of the new session.
  EXPECT_THAT(old_watcher.sequences(), ElementsAre(2));
}

// Issue 12, attack 3: an upload authorized for a start of the id that has
// ended lands nowhere, not in the id's next start.
TYPED_TEST(StoreContractTest, AppendForAnEarlierStartOfTheIdIsRefused) {
  const SessionInfo first = this->MustStart();
  ASSERT_TRUE(this->a().End("s1", "ended").ok());
  const SessionInfo second = this->MustStart("s1", absl::Minutes(10), &this->b());
  Recorder r;
  SessionStore::Subscribed sub = this->MustSubscribe(this->b(), r);
  absl::StatusOr<EventPtr> late = this->a().Append("s1", first.nonce, Doc());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(late.status().message(), HasSubstr("started again"));
  ASSERT_TRUE(this->a().Append("s1", second.nonce, Doc()).ok());
  ASSERT_TRUE(r.WaitFor(1));
  EXPECT_THAT(r.sequences(), ElementsAre(1));  // the new start's own document only
}

TYPED_TEST(StoreContractTest, GetExpiresLazilyBeforeTheSweep) {
  this->MustStart("s1", absl::Seconds(60));
  Recorder r;
  SessionStore::Subscribed sub = this->MustSubscribe(this->a(), r);
  this->clock_.Advance(absl::Seconds(61));
  absl::StatusOr<SessionInfo> info = this->b().Get("s1");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->state, SessionState::kExpired);
  ASSERT_TRUE(r.WaitFor(1));
  EXPECT_EQ(AsEnded(r.events()[0])->reason, "expired");
  this->a().ExpireDue();  // nothing more to deliver: expired exactly once
  this->b().ExpireDue();
  Recorder late;
  EXPECT_EQ(this->a().Subscribe("s1", 0, &late).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.events().size(), 1u);
}

TYPED_TEST(StoreContractTest, ExpiredIdStartsAgainWithNewNonce) {
  const SessionInfo first = this->MustStart("s1", absl::Seconds(60));
  this->clock_.Advance(absl::Seconds(60));
  const SessionInfo second = this->MustStart("s1", absl::Seconds(60), &this->b());
  EXPECT_NE(second.nonce, first.nonce);
  EXPECT_EQ(second.expires_at, this->clock_.Now() + absl::Seconds(60));
}

TYPED_TEST(StoreContractTest, EndedIdIsForgottenAfterItsTtl) {
  this->MustStart("s1", absl::Seconds(60));
  this->clock_.Advance(absl::Seconds(30));
  ASSERT_TRUE(this->a().End("s1", "ended").ok());
  this->clock_.Advance(absl::Seconds(59));
  this->a().ExpireDue();
  EXPECT_EQ(this->b().Get("s1")->state, SessionState::kEnded);
  EXPECT_EQ(this->b().End("s1", "ended").status().code(),
            absl::StatusCode::kFailedPrecondition);
  this->clock_.Advance(absl::Seconds(1));
  // Reads as forgotten even before the sweep...
  EXPECT_EQ(this->b().Get("s1").status().code(), absl::StatusCode::kNotFound);
  this->b().ExpireDue();
  // ...and after it.
  Recorder r;
  EXPECT_EQ(this->a().Get("s1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->a().End("s1", "ended").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(AppendNow(this->a(), "s1", Doc()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(this->a().Subscribe("s1", 0, &r).status().code(),
            absl::StatusCode::kNotFound);
  this->MustStart("s1", absl::Seconds(60), &this->b());  // and the id starts again
}

TYPED_TEST(StoreContractTest, ExpiredIdIsForgottenAfterItsTtl) {
  this->MustStart("s1", absl::Seconds(60));
  this->clock_.Advance(absl::Seconds(60));
  this->a().ExpireDue();
  EXPECT_EQ(this->b().Get("s1")->state, SessionState::kExpired);
  this->clock_.Advance(absl::Seconds(60));
  this->b().ExpireDue();
  EXPECT_EQ(this->a().Get("s1").status().code(), absl::StatusCode::kNotFound);
}

TYPED_TEST(StoreContractTest, DocumentCapHoldsAcrossReplicas) {
  this->Rebuild(SessionCaps{.max_documents = 2});
  this->MustStart();
  this->MustAppend(this->a());
  this->MustAppend(this->b());
  absl::StatusOr<EventPtr> third = AppendNow(this->a(), "s1", Doc());
  EXPECT_EQ(third.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(third.status().message(),
            "session s1 already holds 2 documents, the most allowed");
  EXPECT_EQ(this->Retained(), 200u);
}

TYPED_TEST(StoreContractTest, SessionBytesCapIsFailedPrecondition) {
  this->Rebuild(SessionCaps{.max_session_bytes = 250});
  this->MustStart();
  this->MustAppend(this->a(), "s1", 100);
  this->MustAppend(this->b(), "s1", 100);
  absl::StatusOr<EventPtr> over = AppendNow(this->a(), "s1", Doc(100));
  EXPECT_EQ(over.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(over.status().message()), HasSubstr("s1"));
  EXPECT_EQ(this->MustAppend(this->b(), "s1", 50)->sequence, 3u);  // exactly at the cap
  EXPECT_EQ(this->Retained(), 250u);
}

TYPED_TEST(StoreContractTest, GlobalBytesCapHoldsAcrossReplicasAndEndReleases) {
  this->Rebuild(SessionCaps{.max_retained_bytes = 250});
  this->MustStart("a");
  this->MustStart("b");
  this->MustAppend(this->a(), "a", 100);
  this->MustAppend(this->b(), "b", 100);
  absl::StatusOr<EventPtr> over = AppendNow(this->b(), "b", Doc(100));
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(this->Retained(), 200u);
  ASSERT_TRUE(this->b().End("a", "ended").ok());
  EXPECT_EQ(this->Retained(), 100u);
  EXPECT_EQ(this->MustAppend(this->a(), "b", 100)->sequence, 2u);  // room again
}

TYPED_TEST(StoreContractTest, UnsubscribeStopsDelivery) {
  this->MustStart();
  Recorder kept, dropped;
  SessionStore::Subscribed sk = this->MustSubscribe(this->b(), kept);
  { SessionStore::Subscribed sd = this->MustSubscribe(this->b(), dropped); }
  this->MustAppend(this->a());
  this->MustAppend(this->a());
  ASSERT_TRUE(kept.WaitFor(2));
  EXPECT_TRUE(dropped.events().empty());
}

TYPED_TEST(StoreContractTest, SubscriptionMayOutliveTheStore) {
  this->MustStart();
  Recorder r;
  SessionStore::Subscribed s = this->MustSubscribe(this->b(), r);
  this->store_->ResetB();
  s.live.reset();  // no use after free (ASan)
}

// --- The document lifecycle ------------------------------------------------

TYPED_TEST(StoreContractTest, WithdrawReachesEveryWatcherAndPurgesTheReplay) {
  this->MustStart();
  Recorder live_on_a, live_on_b;
  auto sa = this->MustSubscribe(this->a(), live_on_a);
  auto sb = this->MustSubscribe(this->b(), live_on_b);
  this->MustShare("d1");
  this->MustShare("d2");
  absl::StatusOr<EventPtr> w = this->b().Withdraw("s1", "d1", Role::kAgent);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_NE(*w, nullptr);
  EXPECT_EQ((*w)->sequence, 3u);
  const auto* withdrawn = std::get_if<DocumentWithdrawn>(&(*w)->event);
  ASSERT_NE(withdrawn, nullptr);
  EXPECT_EQ(withdrawn->document_id, "d1");
  EXPECT_EQ(withdrawn->withdrawn_by, Role::kAgent);
  for (Recorder* r : {&live_on_a, &live_on_b}) {
    ASSERT_TRUE(r->WaitFor(3));
    EXPECT_THAT(r->sequences(), ElementsAre(1, 2, 3));
    EXPECT_TRUE(std::holds_alternative<DocumentWithdrawn>(r->events()[2]->event));
  }
  // A late watcher: the DocumentShared stays (no gap) without its previews
  // or its filename; the other document keeps its bytes.
  Recorder late;
  auto replay = this->MustSubscribe(this->a(), late).replay;
  ASSERT_EQ(replay.size(), 3u);
  EXPECT_EQ(SharedIn(replay[0]).document_id, "d1");
  EXPECT_THAT(SharedIn(replay[0]).previews, IsEmpty());
  EXPECT_EQ(SharedIn(replay[0]).filename, "");
  EXPECT_EQ(SharedIn(replay[0]).shared_by, Role::kAgent);
  ASSERT_EQ(SharedIn(replay[1]).previews.size(), 2u);
  EXPECT_EQ(*SharedIn(replay[1]).previews[1].data, std::string(100, 'x'));
  EXPECT_EQ(std::get<DocumentWithdrawn>(replay[2]->event).document_id, "d1");
  // A reconnecting watcher resuming before the share gets the purged one too.
  Recorder again;
  auto resumed = this->MustSubscribe(this->b(), again, 0).replay;
  ASSERT_FALSE(resumed.empty());
  EXPECT_THAT(SharedIn(resumed[0]).previews, IsEmpty());
}

// Issue 11: a replica decodes a session's log once for all of its watchers
// (Redis: the replay cache), so 200 watchers catching up hold one copy of the
// previews, not 200.
TYPED_TEST(StoreContractTest, ReplaysOnOneReplicaShareTheirEvents) {
  this->MustStart();
  for (int i = 0; i < 10; ++i) this->MustShare(absl::StrCat("d", i));
  Recorder first, second, resumed;
  auto one = this->MustSubscribe(this->b(), first);
  auto two = this->MustSubscribe(this->b(), second);
  auto three = this->MustSubscribe(this->b(), resumed, 4);
  ASSERT_EQ(one.replay.size(), 10u);
  ASSERT_EQ(two.replay.size(), 10u);
  ASSERT_EQ(three.replay.size(), 6u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(one.replay[i], two.replay[i]) << "event " << i + 1 << " decoded twice";
    if (i >= 4) EXPECT_EQ(one.replay[i], three.replay[i - 4]);
  }
  EXPECT_EQ(*SharedIn(two.replay[9]).previews[0].data, std::string(100, 'x'));
}

// A watcher that replayed a document before its withdrawal (the page is
// cached on its replica) does not make a later replay show the previews: the
// withdrawal, from either replica, reaches every replica's cached log.
TYPED_TEST(StoreContractTest, AReplayAfterAWithdrawalHasNoPreviewsThoughReplayedBefore) {
  this->MustStart();
  this->MustShare("d1");
  this->MustShare("d2");
  Recorder early;
  auto before = this->MustSubscribe(this->b(), early);  // stays: b keeps the pages
  ASSERT_EQ(before.replay.size(), 2u);
  ASSERT_EQ(SharedIn(before.replay[0]).previews.size(), 2u);
  absl::StatusOr<EventPtr> w = this->a().Withdraw("s1", "d1", Role::kAgent);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE(early.WaitFor(1));
  // The purge message may or may not have reached b yet: either way.
  for (uint64_t after : {0u, 0u}) {
    Recorder late;
    auto replay = this->MustSubscribe(this->b(), late, after).replay;
    ASSERT_EQ(replay.size(), 3u);
    EXPECT_THAT(SharedIn(replay[0]).previews, IsEmpty());
    EXPECT_EQ(SharedIn(replay[0]).filename, "");
    EXPECT_EQ(SharedIn(replay[1]).previews.size(), 2u);
  }
  // And a watcher that has not seen the withdrawal event yet gets it live.
  EXPECT_TRUE(std::holds_alternative<DocumentWithdrawn>(early.events()[0]->event));
}

TYPED_TEST(StoreContractTest, WithdrawTwiceIsOkWithOneEvent) {
  this->MustStart();
  this->MustShare("d1");
  ASSERT_NE(*this->a().Withdraw("s1", "d1", Role::kAgent), nullptr);
  absl::StatusOr<EventPtr> again = this->b().Withdraw("s1", "d1", Role::kAdmin);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, nullptr);
  absl::StatusOr<SessionSnapshot> snapshot = this->a().Snapshot("s1");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->last_sequence, 2u);
}

TYPED_TEST(StoreContractTest, OnlyTheSharingRoleOrTheAdminMayWithdraw) {
  this->MustStart();
  this->MustShare("by-agent", Role::kAgent);
  this->MustShare("by-consumer", Role::kConsumer);
  EXPECT_EQ(this->a().Withdraw("s1", "by-agent", Role::kConsumer).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(this->b().Withdraw("s1", "by-consumer", Role::kAgent).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_NE(*this->b().Withdraw("s1", "by-consumer", Role::kConsumer), nullptr);
  EXPECT_NE(*this->a().Withdraw("s1", "by-agent", Role::kAdmin), nullptr);
}

TYPED_TEST(StoreContractTest, WithdrawErrors) {
  absl::Status unknown_session = this->a().Withdraw("s1", "d1", Role::kAgent).status();
  EXPECT_EQ(unknown_session.code(), absl::StatusCode::kNotFound);
  this->MustStart();
  this->MustShare("d1");
  for (std::string id : {"nope", "d1:purged", "d1:sha", ""}) {
    absl::Status s = this->b().Withdraw("s1", id, Role::kAdmin).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << id;
    EXPECT_EQ(GetErrorInfo(s).reason, kReasonDocumentNotFound) << id;
  }
  ASSERT_TRUE(this->a().End("s1", "ended").ok());
  EXPECT_EQ(this->b().Withdraw("s1", "d1", Role::kAgent).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TYPED_TEST(StoreContractTest, WithdrawReleasesThePreviewBytes) {
  SessionCaps caps;
  caps.max_session_bytes = 300;  // one document of 2 x 100 bytes, not two
  this->Rebuild(caps);
  this->MustStart();
  this->MustShare("d1");
  EXPECT_EQ(
      AppendNow(this->a(), "s1", this->SharedDoc("d2", Role::kAgent)).status().code(),
      absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(this->b().Withdraw("s1", "d1", Role::kAgent).ok());
  EXPECT_TRUE(AppendNow(this->a(), "s1", this->SharedDoc("d2", Role::kAgent)).ok());
}

TYPED_TEST(StoreContractTest, EveryReplicaHearsWhichPreviewsToPurge) {
  this->MustStart();
  this->MustShare("d1");
  ASSERT_TRUE(this->a().Withdraw("s1", "d1", Role::kAgent).ok());
  EXPECT_TRUE(this->purged_on_a_.WaitFor("d1-display"));
  EXPECT_TRUE(this->purged_on_a_.WaitFor("d1-thumbnail"));
  if (TypeParam::kReplicas) {
    EXPECT_TRUE(this->purged_on_b_.WaitFor("d1-display"));
  }
}

TYPED_TEST(StoreContractTest, AcknowledgedOncePerDocumentRoleAndAcknowledgement) {
  this->MustStart();
  Recorder agent_on_a;
  auto sub = this->MustSubscribe(this->a(), agent_on_a);
  this->MustShare("d1");
  auto ack = [&](Role by, Acknowledgement what) {
    absl::StatusOr<EventPtr> e = this->b().Acknowledge("s1", "d1", by, what);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *e : nullptr;
  };
  EventPtr first = ack(Role::kConsumer, Acknowledgement::kDisplayed);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->sequence, 2u);
  EXPECT_EQ(ack(Role::kConsumer, Acknowledgement::kDisplayed), nullptr);
  EXPECT_NE(ack(Role::kConsumer, Acknowledgement::kClosed), nullptr);
  EXPECT_NE(ack(Role::kAgent, Acknowledgement::kDisplayed), nullptr);
  EXPECT_EQ(ack(Role::kAgent, Acknowledgement::kDisplayed), nullptr);
  ASSERT_TRUE(agent_on_a.WaitFor(4));
  EXPECT_THAT(agent_on_a.sequences(), ElementsAre(1, 2, 3, 4));
  const auto& seen = std::get<DocumentAcknowledged>(agent_on_a.events()[1]->event);
  EXPECT_EQ(seen.document_id, "d1");
  EXPECT_EQ(seen.acknowledged_by, Role::kConsumer);
  EXPECT_EQ(seen.acknowledgement, Acknowledgement::kDisplayed);
  // The replay has them too, decoded alike.
  Recorder late;
  auto replay = this->MustSubscribe(this->b(), late).replay;
  ASSERT_EQ(replay.size(), 4u);
  EXPECT_EQ(std::get<DocumentAcknowledged>(replay[2]->event).acknowledgement,
            Acknowledgement::kClosed);
}

TYPED_TEST(StoreContractTest, AcknowledgeErrors) {
  EXPECT_EQ(this->a()
                .Acknowledge("s1", "d1", Role::kConsumer, Acknowledgement::kDisplayed)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  this->MustStart();
  this->MustShare("d1");
  absl::Status unknown =
      this->a()
          .Acknowledge("s1", "nope", Role::kConsumer, Acknowledgement::kDisplayed)
          .status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorInfo(unknown).reason, kReasonDocumentNotFound);
  ASSERT_TRUE(this->a().Withdraw("s1", "d1", Role::kAgent).ok());
  absl::Status withdrawn =
      this->b()
          .Acknowledge("s1", "d1", Role::kConsumer, Acknowledgement::kDisplayed)
          .status();
  EXPECT_EQ(withdrawn.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorInfo(withdrawn).reason, kReasonDocumentWithdrawn);
  ASSERT_TRUE(this->a().End("s1", "ended").ok());
  EXPECT_EQ(this->b()
                .Acknowledge("s1", "d1", Role::kConsumer, Acknowledgement::kClosed)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TYPED_TEST(StoreContractTest, SnapshotShowsTheDocumentsStillShared) {
  EXPECT_EQ(this->a().Snapshot("s1").status().code(), absl::StatusCode::kNotFound);
  const SessionInfo info = this->MustStart();
  this->MustShare("d1");
  this->MustShare("d2", Role::kConsumer);
  this->MustShare("d3");
  ASSERT_TRUE(this->a().Withdraw("s1", "d2", Role::kConsumer).ok());
  ASSERT_TRUE(this->a()
                  .Acknowledge("s1", "d3", Role::kConsumer, Acknowledgement::kDisplayed)
                  .ok());
  absl::StatusOr<SessionSnapshot> s = this->b().Snapshot("s1");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->info.nonce, info.nonce);
  EXPECT_EQ(s->info.state, SessionState::kActive);
  EXPECT_EQ(s->info.expires_at, info.expires_at);
  EXPECT_TRUE(s->info.consumer_may_share);
  EXPECT_EQ(s->last_sequence, 5u);
  ASSERT_EQ(s->documents.size(), 2u);
  EXPECT_EQ(s->documents[0].sequence, 1u);
  EXPECT_EQ(s->documents[0].document->document_id, "d1");
  EXPECT_EQ(s->documents[1].sequence, 3u);
  EXPECT_EQ(s->documents[1].document->document_id, "d3");
  EXPECT_EQ(*s->documents[1].document->previews[0].data, std::string(100, 'x'));
  ASSERT_TRUE(this->a().End("s1", "ended").ok());
  s = this->b().Snapshot("s1");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->info.state, SessionState::kEnded);
  EXPECT_EQ(s->last_sequence, 6u);
  EXPECT_THAT(s->documents, IsEmpty());
}

TYPED_TEST(StoreContractTest, SnapshotCountsWatchersOfEveryReplica) {
  this->MustStart();
  Recorder w1, w2, w3;
  auto s1 = this->MustSubscribe(this->a(), w1);
  auto s2 = this->MustSubscribe(this->a(), w2);
  auto s3 = this->MustSubscribe(this->b(), w3);
  // Replicas report their counts on their timer tick.
  this->a().ExpireDue();
  this->b().ExpireDue();
  absl::StatusOr<SessionSnapshot> s = this->a().Snapshot("s1");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->watchers, 3u);
  s1.live.reset();
  s3.live.reset();
  this->a().ExpireDue();
  this->b().ExpireDue();
  EXPECT_EQ(this->b().Snapshot("s1")->watchers, 1u);
  // A replica that stopped reporting (gone) no longer counts after 10 s.
  this->clock_.Advance(absl::Seconds(11));
  this->b().ExpireDue();
  EXPECT_EQ(this->b().Snapshot("s1")->watchers, TypeParam::kReplicas ? 0u : 1u);
}

}  // namespace
}  // namespace docshare
