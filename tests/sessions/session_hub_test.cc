// SessionHub: this replica's watchers, the same for both stores. The stores'
// contract suite drives it end to end; these pin its seam and delivery rules
// with the feed in the test's hands.

#include "service/sessions/session_hub.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/sessions.h"

namespace docshare {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

EventPtr Shared(uint64_t sequence) {
  auto event = std::make_shared<SessionEvent>();
  event->sequence = sequence;
  event->event = DocumentShared{testing::Doc()};
  return event;
}

EventPtr Ended(uint64_t sequence) {
  auto event = std::make_shared<SessionEvent>();
  event->sequence = sequence;
  event->event = SessionEnded{"ended"};
  return event;
}

class Anomalies final : public Observer {
 public:
  void SessionAnomaly(std::string_view what, std::string_view) override {
    absl::MutexLock lock(&mu_);
    seen_.emplace_back(what);
  }
  std::vector<std::string> seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> seen_ ABSL_GUARDED_BY(mu_);
};

// A log of sequences 1..n of start "n1", and the ranges read from it.
class Log {
 public:
  SessionHub::Fill Fill() {
    return [this](const std::string&, const std::string& nonce, uint64_t from,
                  uint64_t to) -> absl::StatusOr<std::vector<EventPtr>> {
      absl::MutexLock lock(&mu_);
      reads_.emplace_back(from, to);
      if (down_) return absl::UnavailableError("redis down");
      std::vector<EventPtr> out;
      if (nonce != "n1") return out;
      for (uint64_t s = from; s <= std::min<uint64_t>(to, last_); ++s) {
        out.push_back(Shared(s));
      }
      return out;
    };
  }
  void set_last(uint64_t last) {
    absl::MutexLock lock(&mu_);
    last_ = last;
  }
  void set_down(bool down) {
    absl::MutexLock lock(&mu_);
    down_ = down;
  }
  std::vector<std::pair<uint64_t, uint64_t>> reads() {
    absl::MutexLock lock(&mu_);
    return reads_;
  }

 private:
  absl::Mutex mu_;
  uint64_t last_ ABSL_GUARDED_BY(mu_) = 0;
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::pair<uint64_t, uint64_t>> reads_ ABSL_GUARDED_BY(mu_);
};

struct HubTest : ::testing::Test {
  std::shared_ptr<SessionHub> MakeHub(bool with_fill = true) {
    auto hub = std::make_shared<SessionHub>(
        with_fill ? log.Fill() : SessionHub::Fill(),
        [this](const std::string& id) {
          absl::MutexLock lock(&mu);
          gone.push_back(id);
        },
        anomalies);
    hub->SetFeed(true);
    return hub;
  }
  std::vector<std::string> Gone() {
    absl::MutexLock lock(&mu);
    return gone;
  }

  Log log;
  Anomalies anomalies;
  absl::Mutex mu;
  std::vector<std::string> gone ABSL_GUARDED_BY(mu);
};

TEST_F(HubTest, WhatArrivesBeforeReadyIsHeldAndTheReplaysEventsAreDropped) {
  auto hub = MakeHub();
  testing::Recorder r;
  auto watch = hub->Register("s", &r);
  hub->Publish("s", "n1", Shared(3));  // in the replay being read
  hub->Publish("s", "n1", Shared(4));  // after it
  EXPECT_THAT(r.sequences(), IsEmpty());
  hub->Ready(watch, "n1", 3);
  auto live = hub->Live(std::move(watch));
  hub->Publish("s", "n1", Shared(4));  // a duplicate
  hub->Publish("s", "n1", Shared(5));
  EXPECT_THAT(r.sequences(), ElementsAre(4, 5));
  EXPECT_THAT(log.reads(), IsEmpty());
}

TEST_F(HubTest, AnotherStartsEventsNeverReachAWatch) {
  auto hub = MakeHub();
  testing::Recorder r;
  auto live = hub->Live(hub->RegisterReady("s", &r, "n1", 0));
  hub->Publish("s", "n2", Shared(1));
  hub->Publish("other", "n1", Shared(1));
  hub->Publish("s", "n1", Shared(1));
  EXPECT_THAT(r.sequences(), ElementsAre(1));
}

TEST_F(HubTest, AGapIsReadFromTheLogBeforeTheEventThatShowedIt) {
  auto hub = MakeHub();
  log.set_last(6);
  testing::Recorder r;
  auto live = hub->Live(hub->RegisterReady("s", &r, "n1", 2));
  hub->Publish("s", "n1", Shared(6));
  EXPECT_THAT(r.sequences(), ElementsAre(3, 4, 5, 6));
  EXPECT_THAT(log.reads(), ElementsAre(std::pair<uint64_t, uint64_t>(3, 5)));
}

TEST_F(HubTest, AGapTheLogCannotFillWaitsForTheCatchUp) {
  auto hub = MakeHub();
  log.set_last(4);
  testing::Recorder r;
  auto live = hub->Live(hub->RegisterReady("s", &r, "n1", 0));
  log.set_down(true);
  hub->Publish("s", "n1", Shared(4));
  EXPECT_THAT(r.sequences(), IsEmpty());  // nothing out of order
  log.set_down(false);
  hub->SetFeed(false);
  hub->SetFeed(true);  // the reconnect's catch-up
  EXPECT_THAT(r.sequences(), ElementsAre(1, 2, 3, 4));
}

TEST_F(HubTest, AWatchReadyAfterTheFeedReconnectedCatchesUp) {
  auto hub = MakeHub();
  log.set_last(5);
  testing::Recorder r;
  auto watch = hub->Register("s", &r);
  hub->SetFeed(false);  // events 4 and 5 were published meanwhile
  hub->SetFeed(true);
  hub->Ready(watch, "n1", 3);
  auto live = hub->Live(std::move(watch));
  EXPECT_THAT(r.sequences(), ElementsAre(4, 5));
}

TEST_F(HubTest, WithoutAFillAGapIsCountedAndTheEventStillDelivered) {
  auto hub = MakeHub(/*with_fill=*/false);
  testing::Recorder r;
  auto live = hub->Live(hub->RegisterReady("s", &r, "n1", 0));
  hub->Publish("s", "n1", Shared(2));
  EXPECT_THAT(r.sequences(), ElementsAre(2));
  EXPECT_THAT(anomalies.seen(), ElementsAre("hub_gap"));
}

TEST_F(HubTest, SessionEndedIsTheLastEventAndTheWatchLeaves) {
  auto hub = MakeHub();
  testing::Recorder r;
  auto live = hub->Live(hub->RegisterReady("s", &r, "n1", 0));
  EXPECT_EQ(hub->CountOf("s"), 1u);
  hub->Publish("s", "n1", Shared(1));
  hub->Publish("s", "n1", Ended(2));
  hub->Publish("s", "n1", Shared(3));
  EXPECT_THAT(r.sequences(), ElementsAre(1, 2));
  EXPECT_EQ(hub->CountOf("s"), 0u);
  EXPECT_FALSE(hub->Watched("s"));
  EXPECT_THAT(Gone(), ElementsAre("s"));
}

TEST_F(HubTest, LoseAllTellsEveryWatchOnceAndEmptiesTheHub) {
  auto hub = MakeHub();
  testing::Recorder a, b;
  auto la = hub->Live(hub->RegisterReady("s", &a, "n1", 0));
  auto lb = hub->Live(hub->RegisterReady("t", &b, "n1", 0));
  EXPECT_EQ(hub->Counts().size(), 2u);
  hub->LoseAll();
  EXPECT_TRUE(a.WaitLost());
  EXPECT_TRUE(b.WaitLost());
  hub->Publish("s", "n1", Shared(1));
  EXPECT_THAT(a.sequences(), IsEmpty());
  EXPECT_TRUE(hub->Counts().empty());
}

// Drops its own subscription from inside OnEvent.
class SelfCancelling final : public Subscriber {
 public:
  void OnEvent(EventPtr event) override {
    sequences.push_back(event->sequence);
    live.reset();
  }
  std::unique_ptr<Subscription> live;
  std::vector<uint64_t> sequences;
};

TEST_F(HubTest, ASubscriberMayCancelFromInsideOnEvent) {
  auto hub = MakeHub();
  SelfCancelling s;
  s.live = hub->Live(hub->RegisterReady("s", &s, "n1", 0));
  hub->Publish("s", "n1", Shared(1));
  hub->Publish("s", "n1", Shared(2));
  EXPECT_THAT(s.sequences, ElementsAre(1));
  EXPECT_FALSE(hub->Watched("s"));
}

// Blocks in OnEvent until released, so a test can cancel meanwhile.
class Gate final : public Subscriber {
 public:
  void OnEvent(EventPtr) override {
    absl::MutexLock lock(&mu_);
    inside_ = true;
    mu_.Await(absl::Condition(&open_));
    inside_ = false;
    ++delivered_;
  }
  void WaitInside() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&inside_));
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  int delivered() {
    absl::MutexLock lock(&mu_);
    return delivered_;
  }
  bool inside() {
    absl::MutexLock lock(&mu_);
    return inside_;
  }

 private:
  absl::Mutex mu_;
  bool inside_ ABSL_GUARDED_BY(mu_) = false;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  int delivered_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST_F(HubTest, CancellingWaitsForADeliveryInProgressAndNothingFollows) {
  auto hub = MakeHub();
  Gate gate;
  auto live = hub->Live(hub->RegisterReady("s", &gate, "n1", 0));
  std::thread publisher([&] { hub->Publish("s", "n1", Shared(1)); });
  gate.WaitInside();
  // A second publisher leaves its event to the thread already delivering.
  hub->Publish("s", "n1", Shared(2));
  std::atomic<bool> cancelled{false};
  std::thread canceller([&] {
    live.reset();
    cancelled = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(cancelled.load());  // still inside OnEvent
  gate.Open();
  canceller.join();
  publisher.join();
  EXPECT_TRUE(cancelled.load());
  EXPECT_EQ(gate.delivered(), 1);  // event 2 went with the subscription
}

TEST_F(HubTest, ASubscriptionMayOutliveItsStore) {
  testing::Recorder r;
  std::unique_ptr<Subscription> live;
  {
    auto hub = MakeHub();
    live = hub->Live(hub->RegisterReady("s", &r, "n1", 0));
  }
  live.reset();  // the store dropped the hub; the subscription kept it (ASan)
  EXPECT_THAT(Gone(), ElementsAre("s"));
}

}  // namespace
}  // namespace docshare
