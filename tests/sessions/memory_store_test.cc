#include "service/sessions/memory_store.h"

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/clock.h"
#include "service/common/observer.h"
#include "service/sessions/watcher.h"
#include "tests/support/sessions.h"

namespace docshare {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using testing::AppendNow;
using testing::Doc;
using testing::Recorder;

class RecordingObserver final : public Observer {
 public:
  void SessionsActive(int64_t count) override { active.push_back(count); }
  void RetainedPreviewBytes(int64_t bytes) override { retained.push_back(bytes); }
  void SessionAnomaly(std::string_view what, std::string_view /*detail*/) override {
    anomalies.fetch_add(1);
    last_anomaly = std::string(what);  // only read after the threads joined
  }
  std::vector<int64_t> active;
  std::vector<int64_t> retained;
  std::atomic<int> anomalies{0};
  std::string last_anomaly;
};

std::vector<uint64_t> Sequences(const std::vector<EventPtr>& events) {
  std::vector<uint64_t> out;
  for (const EventPtr& e : events) out.push_back(e->sequence);
  return out;
}

const SessionEnded* AsEnded(const EventPtr& event) {
  return std::get_if<SessionEnded>(&event->event);
}

class MemoryStoreTest : public ::testing::Test {
 protected:
  SessionSettings Settings(std::string id = "s1", absl::Duration ttl = absl::Minutes(10),
                           bool consumer_may_share = false) {
    return SessionSettings{std::move(id), ttl, consumer_may_share};
  }

  SessionInfo MustStart(std::string id = "s1", absl::Duration ttl = absl::Minutes(10)) {
    absl::StatusOr<SessionInfo> info = backplane_->Start(Settings(std::move(id), ttl));
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? *info : SessionInfo{};
  }

  EventPtr MustAppend(std::string_view id = "s1", uint64_t bytes = 100) {
    absl::StatusOr<EventPtr> event = AppendNow(*backplane_, id, Doc(bytes));
    EXPECT_TRUE(event.ok()) << event.status();
    return event.ok() ? *event : nullptr;
  }

  SessionStore::Subscribed MustSubscribe(Subscriber& subscriber, uint64_t after = 0,
                                         std::string_view id = "s1") {
    absl::StatusOr<SessionStore::Subscribed> s =
        backplane_->Subscribe(id, after, &subscriber);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : SessionStore::Subscribed{};
  }

  void Rebuild(SessionCaps caps) {
    backplane_ = std::make_unique<MemoryStore>(clock_, caps, observer_);
  }

  FakeClock clock_;
  RecordingObserver observer_;
  std::unique_ptr<MemoryStore> backplane_ =
      std::make_unique<MemoryStore>(clock_, SessionCaps{}, observer_);
};

TEST_F(MemoryStoreTest, StartIsIdempotentWithSameSettings) {
  const SessionInfo first = MustStart();
  clock_.Advance(absl::Seconds(5));
  const SessionInfo again = MustStart();
  EXPECT_EQ(again.nonce, first.nonce);
  EXPECT_EQ(again.expires_at, first.expires_at);
  EXPECT_THAT(observer_.active, ElementsAre(1));
}

TEST_F(MemoryStoreTest, StartWithOtherSettingsIsAlreadyExists) {
  MustStart();
  absl::StatusOr<SessionInfo> other_ttl =
      backplane_->Start(Settings("s1", absl::Minutes(5)));
  EXPECT_EQ(other_ttl.status().code(), absl::StatusCode::kAlreadyExists);
  absl::StatusOr<SessionInfo> other_share =
      backplane_->Start(Settings("s1", absl::Minutes(10), true));
  EXPECT_EQ(other_share.status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(MemoryStoreTest, StartRejectsNonPositiveTtl) {
  EXPECT_EQ(backplane_->Start(Settings("s1", absl::ZeroDuration())).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(MemoryStoreTest, DistinctSessionsGetDistinctNonces) {
  EXPECT_NE(MustStart("a").nonce, MustStart("b").nonce);
}

TEST_F(MemoryStoreTest, AppendAssignsSequencesAndTime) {
  MustStart();
  EventPtr first = MustAppend();
  clock_.Advance(absl::Seconds(3));
  EventPtr second = MustAppend();
  EventPtr third = MustAppend();
  ASSERT_TRUE(first && second && third);
  EXPECT_EQ(first->sequence, 1u);
  EXPECT_EQ(second->sequence, 2u);
  EXPECT_EQ(third->sequence, 3u);
  EXPECT_EQ(second->time, clock_.Now());
  EXPECT_TRUE(std::holds_alternative<DocumentShared>(first->event));
  EXPECT_EQ(backplane_->retained_bytes(), 300u);
  EXPECT_THAT(observer_.retained, ElementsAre(100, 200, 300));
}

TEST_F(MemoryStoreTest, SequencesArePerSession) {
  MustStart("a");
  MustStart("b");
  EXPECT_EQ(MustAppend("a")->sequence, 1u);
  EXPECT_EQ(MustAppend("b")->sequence, 1u);
  EXPECT_EQ(MustAppend("a")->sequence, 2u);
}

TEST_F(MemoryStoreTest, ReplayAfterSequence) {
  MustStart();
  for (int i = 0; i < 3; ++i) MustAppend();
  Recorder r0, r2, r3;
  EXPECT_THAT(Sequences(MustSubscribe(r0, 0).replay), ElementsAre(1, 2, 3));
  EXPECT_THAT(Sequences(MustSubscribe(r2, 2).replay), ElementsAre(3));
  EXPECT_TRUE(MustSubscribe(r3, 3).replay.empty());
}

TEST_F(MemoryStoreTest, LiveEventsFollowTheReplay) {
  MustStart();
  MustAppend();
  Recorder r;
  SessionStore::Subscribed sub = MustSubscribe(r, 0);
  EXPECT_THAT(Sequences(sub.replay), ElementsAre(1));
  MustAppend();
  MustAppend();
  EXPECT_THAT(r.sequences(), ElementsAre(2, 3));
}

TEST_F(MemoryStoreTest, NoGapNoDuplicateAtTheSeamUnderConcurrentAppends) {
  Rebuild(SessionCaps{.max_documents = 100000});
  MustStart();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  constexpr uint64_t kTotal = kThreads * kPerThread;
  std::atomic<uint64_t> appended{0};  // a sequence known to be in the log
  // The appenders start once a first watcher is in: fast appends must not
  // finish before the seam is ever crossed.
  std::atomic<bool> go{false};
  std::vector<std::thread> appenders;
  for (int t = 0; t < kThreads; ++t) {
    appenders.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<EventPtr> event = AppendNow(*backplane_, "s1", Doc(10));
        if (!event.ok()) {
          ADD_FAILURE() << event.status();
          return;
        }
        uint64_t seen = appended.load();
        while (seen < (*event)->sequence &&
               !appended.compare_exchange_weak(seen, (*event)->sequence)) {
        }
      }
    });
  }
  struct Watch {
    uint64_t after;
    Recorder recorder;
    SessionStore::Subscribed subscribed;
  };
  std::vector<std::unique_ptr<Watch>> watches;
  while (appended.load() < kTotal && watches.size() < 200) {
    auto watch = std::make_unique<Watch>();
    watch->after = watches.size() % 2 == 0 ? 0 : appended.load() / 2;
    watch->subscribed = MustSubscribe(watch->recorder, watch->after);
    watches.push_back(std::move(watch));
    go.store(true);
  }
  go.store(true);
  for (std::thread& t : appenders) t.join();
  ASSERT_FALSE(watches.empty());
  for (const auto& watch : watches) {
    std::vector<uint64_t> seen = Sequences(watch->subscribed.replay);
    for (uint64_t seq : watch->recorder.sequences()) seen.push_back(seq);
    ASSERT_EQ(seen.size(), kTotal - watch->after) << "after " << watch->after;
    for (size_t i = 0; i < seen.size(); ++i) {
      ASSERT_EQ(seen[i], watch->after + 1 + i) << "after " << watch->after;
    }
  }
}

// The memory store does no I/O: a dispatched call runs at once, here.
TEST_F(MemoryStoreTest, DispatchRunsTheCallAtOnceOnTheCallingThread) {
  MustStart();
  std::thread::id where;
  absl::Status got = absl::UnknownError("not run");
  EXPECT_TRUE(backplane_->Dispatch([&] {
    where = std::this_thread::get_id();
    got = backplane_->Get("s1").status();
  }));
  EXPECT_EQ(where, std::this_thread::get_id());
  EXPECT_TRUE(got.ok()) << got;
}

TEST_F(MemoryStoreTest, WatcherSeesEveryEventOnceUnderConcurrentAppends) {
  Rebuild(SessionCaps{.max_documents = 100000});
  MustStart();
  constexpr int kAppends = 1000;
  std::atomic<int> done{0};
  std::thread appender([&] {
    for (int i = 0; i < kAppends; ++i) {
      if (!AppendNow(*backplane_, "s1", Doc(1)).ok()) ADD_FAILURE();
      done.store(i + 1);
    }
  });
  Watcher watcher(
      kAppends + 1, [] {}, observer_);
  while (done.load() < kAppends / 4) {
  }  // subscribe mid-stream
  {
    SessionStore::Subscribed sub = MustSubscribe(watcher, 0);
    watcher.SetReplay(std::move(sub.replay));
    appender.join();
    ASSERT_TRUE(backplane_->End("s1", "ended").ok());
  }
  uint64_t expected = 1;
  EventPtr last;
  while (EventPtr event = watcher.Pop()) {
    ASSERT_EQ(event->sequence, expected++);
    last = event;
  }
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->sequence, kAppends + 1u);
  EXPECT_NE(AsEnded(last), nullptr);
  EXPECT_EQ(observer_.anomalies.load(), 0)
      << observer_.last_anomaly;  // the seam: no duplicate
}

TEST_F(MemoryStoreTest, EndDeliversSessionEndedToEveryWatcherAndPurges) {
  MustStart();
  MustAppend();
  MustAppend();
  EXPECT_EQ(backplane_->retained_bytes(), 200u);
  Recorder a, b;
  SessionStore::Subscribed sub_a = MustSubscribe(a, 0);
  SessionStore::Subscribed sub_b = MustSubscribe(b, 2);
  absl::StatusOr<uint32_t> purged = backplane_->End("s1", "ended");
  ASSERT_TRUE(purged.ok()) << purged.status();
  EXPECT_EQ(*purged, 2u);
  for (Recorder* r : {&a, &b}) {
    std::vector<EventPtr> events = r->events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]->sequence, 3u);
    ASSERT_NE(AsEnded(events[0]), nullptr);
    EXPECT_EQ(AsEnded(events[0])->reason, "ended");
  }
  EXPECT_EQ(backplane_->retained_bytes(), 0u);
  EXPECT_EQ(observer_.retained.back(), 0);
  EXPECT_EQ(observer_.active.back(), 0);
  absl::StatusOr<SessionInfo> info = backplane_->Get("s1");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, SessionState::kEnded);
}

TEST_F(MemoryStoreTest, EndPurgesThePreviewBytes) {
  MustStart();
  std::weak_ptr<const Document> weak;
  {
    auto doc = Doc(1000);
    weak = doc;
    ASSERT_TRUE(AppendNow(*backplane_, "s1", std::move(doc)).ok());
  }
  EXPECT_FALSE(weak.expired());
  ASSERT_TRUE(backplane_->End("s1", "ended").ok());
  EXPECT_TRUE(weak.expired());  // nothing in the backplane holds it any more
}

TEST_F(MemoryStoreTest, ExpiryDeliversExpired) {
  MustStart("s1", absl::Seconds(60));
  MustAppend();
  Recorder r;
  SessionStore::Subscribed sub = MustSubscribe(r, 1);
  clock_.Advance(absl::Seconds(59));
  backplane_->ExpireDue();
  EXPECT_TRUE(r.events().empty());
  clock_.Advance(absl::Seconds(1));
  backplane_->ExpireDue();
  std::vector<EventPtr> events = r.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]->sequence, 2u);
  ASSERT_NE(AsEnded(events[0]), nullptr);
  EXPECT_EQ(AsEnded(events[0])->reason, "expired");
  EXPECT_EQ(backplane_->retained_bytes(), 0u);
  absl::StatusOr<SessionInfo> info = backplane_->Get("s1");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, SessionState::kExpired);
  absl::StatusOr<EventPtr> late = AppendNow(*backplane_, "s1", Doc());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(late.status().message()), HasSubstr("expired"));
  EXPECT_EQ(backplane_->End("s1", "ended").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Drops its own subscription from inside OnEvent (a wake that finishes the
// stream on the same thread): must neither deadlock nor be called again.
class SelfCancelling final : public Subscriber {
 public:
  void OnEvent(EventPtr event) override {
    ++calls;
    subscription.reset();
  }
  std::unique_ptr<Subscription> subscription;
  int calls = 0;
};

TEST_F(MemoryStoreTest, UnsubscribeFromInsideOnEvent) {
  MustStart();
  SelfCancelling s;
  absl::StatusOr<SessionStore::Subscribed> sub = backplane_->Subscribe("s1", 0, &s);
  ASSERT_TRUE(sub.ok());
  s.subscription = std::move(sub->live);
  MustAppend();
  MustAppend();
  EXPECT_EQ(s.calls, 1);
}

// Holds OnEvent open until released, to check that unsubscribing from
// another thread waits for it.
class Blocking final : public Subscriber {
 public:
  void OnEvent(EventPtr event) override {
    if (calls.fetch_add(1) == 0) {  // holds the first event only
      entered.set_value();
      release_future.wait();
    }
    returned.store(true);
  }
  std::atomic<int> calls{0};
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> release_future = release.get_future().share();
  std::atomic<bool> returned{false};
};

TEST_F(MemoryStoreTest, UnsubscribeWaitsForDeliveryInProgress) {
  MustStart();
  Blocking b;
  SessionStore::Subscribed sub = MustSubscribe(b, 0);
  std::thread appender([&] { MustAppend(); });
  b.entered.get_future().wait();
  std::atomic<bool> returned_when_unsubscribed{false};
  std::thread unsubscriber([&] {
    sub.live.reset();
    returned_when_unsubscribed.store(b.returned.load());
  });
  b.release.set_value();
  unsubscriber.join();
  appender.join();
  EXPECT_TRUE(returned_when_unsubscribed.load());
}

TEST_F(MemoryStoreTest, AppendDoesNotWaitForAFanOutInProgress) {
  MustStart();
  Blocking slow;
  SessionStore::Subscribed slow_sub = MustSubscribe(slow, 0);
  std::thread first([&] { MustAppend(); });  // delivers 1, held inside OnEvent
  slow.entered.get_future().wait();
  // Appended while 1 is still being delivered: this thread returns at once
  // and leaves 2 to the delivering thread.
  EXPECT_EQ(MustAppend()->sequence, 2u);
  // A watcher joining now gets 1 and 2 in its replay; 2 (queued, not yet
  // delivered) must not reach it a second time as a live event.
  Recorder late;
  SessionStore::Subscribed late_sub = MustSubscribe(late, 0);
  EXPECT_THAT(Sequences(late_sub.replay), ElementsAre(1, 2));
  slow.release.set_value();
  first.join();  // its thread delivered 2 as well
  EXPECT_EQ(slow.calls.load(), 2);
  EXPECT_TRUE(late.sequences().empty());
  MustAppend();
  EXPECT_THAT(late.sequences(), ElementsAre(3));
}

TEST_F(MemoryStoreTest, ActiveCountFollowsStartsEndsAndExpiry) {
  MustStart("a", absl::Seconds(10));
  MustStart("b", absl::Seconds(100));
  MustStart("a", absl::Seconds(10));  // idempotent: no change
  clock_.Advance(absl::Seconds(10));
  backplane_->ExpireDue();
  ASSERT_TRUE(backplane_->End("b", "ended").ok());
  EXPECT_THAT(observer_.active, ElementsAre(1, 2, 1, 0));
}

}  // namespace
}  // namespace docshare
