#include "service/sessions/watcher.h"

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "gtest/gtest.h"
#include "service/common/observer.h"

namespace docshare {
namespace {

EventPtr Doc(uint64_t sequence) {
  auto event = std::make_shared<SessionEvent>();
  event->sequence = sequence;
  event->event = DocumentShared{std::make_shared<Document>()};
  return event;
}

EventPtr Ended(uint64_t sequence) {
  auto event = std::make_shared<SessionEvent>();
  event->sequence = sequence;
  event->event = SessionEnded{"ended"};
  return event;
}

// Counts the watcher's "watcher_duplicate" anomalies.
class Anomalies final : public Observer {
 public:
  void SessionAnomaly(std::string_view what, std::string_view) override {
    if (what == "watcher_duplicate") ++count;
  }
  int count = 0;
};

std::vector<uint64_t> Drain(Watcher& watcher) {
  std::vector<uint64_t> out;
  while (EventPtr event = watcher.Pop()) out.push_back(event->sequence);
  return out;
}

// Issue 13: a slow watcher whose queue still holds a document's
// DocumentShared when the document is withdrawn is sent it without previews
// or filename, then the DocumentWithdrawn; other documents keep theirs.
TEST(WatcherTest, AWithdrawalPurgesQueuedCopiesOfTheDocument) {
  auto shared = [](uint64_t sequence, const std::string& id) {
    auto document = std::make_shared<Document>();
    document->document_id = id;
    document->filename = id + ".jpg";
    Preview preview;
    preview.data = std::make_shared<const std::string>("bytes of " + id);
    document->previews.push_back(std::move(preview));
    auto event = std::make_shared<SessionEvent>();
    event->sequence = sequence;
    event->event = DocumentShared{std::move(document)};
    return EventPtr(std::move(event));
  };
  Anomalies anomalies;
  Watcher watcher(8, nullptr, anomalies);
  watcher.SetReplay({shared(1, "a")});
  watcher.OnEvent(shared(2, "b"));
  watcher.OnEvent(shared(3, "a"));  // (a second copy, as a seam could hold)
  auto withdrawn = std::make_shared<SessionEvent>();
  withdrawn->sequence = 4;
  withdrawn->event = DocumentWithdrawn{"a", Role::kAgent};
  watcher.OnEvent(withdrawn);

  std::vector<EventPtr> out;
  while (EventPtr event = watcher.Pop()) out.push_back(event);
  ASSERT_EQ(out.size(), 4u);
  for (int i : {0, 2}) {
    const Document& a = *std::get<DocumentShared>(out[i]->event).document;
    EXPECT_EQ(a.document_id, "a");
    EXPECT_TRUE(a.previews.empty()) << "withdrawn bytes were still sent";
    EXPECT_TRUE(a.filename.empty());
  }
  EXPECT_EQ(out[0]->sequence, 1u);
  const Document& b = *std::get<DocumentShared>(out[1]->event).document;
  EXPECT_EQ(b.previews.size(), 1u);
  EXPECT_EQ(b.filename, "b.jpg");
  EXPECT_TRUE(std::holds_alternative<DocumentWithdrawn>(out[3]->event));
}

TEST(WatcherTest, ReplayThenLiveInOrder) {
  int wakes = 0;
  Anomalies anomalies;
  Watcher watcher(
      8, [&] { ++wakes; }, anomalies);
  EXPECT_EQ(watcher.Pop(), nullptr);
  EXPECT_EQ(watcher.last_delivered(), 0u);
  watcher.SetReplay({Doc(1), Doc(2)});
  watcher.OnEvent(Doc(3));
  watcher.OnEvent(Doc(4));
  EXPECT_EQ(Drain(watcher), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(watcher.last_delivered(), 4u);
  EXPECT_FALSE(watcher.overflowed());
  EXPECT_EQ(wakes, 3);  // the replay once, then each live event
}

TEST(WatcherTest, LiveBeforeReplayStillDeliversReplayFirst) {
  Anomalies anomalies;
  Watcher watcher(
      8, [] {}, anomalies);
  // The backplane registers the subscriber before the transport hands the
  // replay over: a live event may come first.
  watcher.OnEvent(Doc(3));
  watcher.SetReplay({Doc(1), Doc(2)});
  watcher.OnEvent(Doc(4));
  EXPECT_EQ(Drain(watcher), (std::vector<uint64_t>{1, 2, 3, 4}));
}

// The hub starts live events after the replay, so a duplicate is a
// can't-happen: still dropped, and counted.
TEST(WatcherTest, DuplicatesAtTheSeamAreDroppedAndCounted) {
  Anomalies anomalies;
  Watcher watcher(
      8, [] {}, anomalies);
  watcher.OnEvent(Doc(2));  // also in the replay below
  watcher.OnEvent(Doc(3));
  watcher.SetReplay({Doc(1), Doc(2)});
  watcher.OnEvent(Doc(3));
  watcher.OnEvent(Doc(1));
  watcher.OnEvent(Doc(4));
  watcher.OnEvent(nullptr);
  EXPECT_EQ(Drain(watcher), (std::vector<uint64_t>{1, 2, 3, 4}));
  // Doc(2) live before the replay, Doc(3) and Doc(1) again, the null event.
  EXPECT_EQ(anomalies.count, 4);
}

TEST(WatcherTest, InOrderEventsAreNoAnomaly) {
  Anomalies anomalies;
  Watcher watcher(
      8, [] {}, anomalies);
  watcher.OnEvent(Doc(3));
  watcher.SetReplay({Doc(1), Doc(2)});
  watcher.OnEvent(Doc(4));
  EXPECT_EQ(Drain(watcher), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(anomalies.count, 0);
}

TEST(WatcherTest, EmptyReplayDoesNotWake) {
  int wakes = 0;
  Anomalies anomalies;
  Watcher watcher(
      8, [&] { ++wakes; }, anomalies);
  watcher.SetReplay({});
  EXPECT_EQ(wakes, 0);
  EXPECT_EQ(watcher.Pop(), nullptr);
}

TEST(WatcherTest, ReplayIsNotBoundedByCapacity) {
  Anomalies anomalies;
  Watcher watcher(
      2, [] {}, anomalies);
  std::vector<EventPtr> replay;
  for (uint64_t i = 1; i <= 100; ++i) replay.push_back(Doc(i));
  watcher.SetReplay(std::move(replay));
  watcher.OnEvent(Doc(101));
  watcher.OnEvent(Doc(102));
  EXPECT_FALSE(watcher.overflowed());
  EXPECT_EQ(Drain(watcher).size(), 102u);
}

TEST(WatcherTest, OverflowMarksAndKeepsLastDelivered) {
  int wakes = 0;
  Anomalies anomalies;
  Watcher watcher(
      2, [&] { ++wakes; }, anomalies);
  watcher.SetReplay({Doc(1)});
  ASSERT_NE(watcher.Pop(), nullptr);
  watcher.OnEvent(Doc(2));
  watcher.OnEvent(Doc(3));
  EXPECT_FALSE(watcher.overflowed());
  const int wakes_before = wakes;
  watcher.OnEvent(Doc(4));  // the third live event while two wait
  EXPECT_TRUE(watcher.overflowed());
  EXPECT_EQ(wakes, wakes_before + 1);  // the writer learns of the overflow
  // The writer ends the stream at once; the client resumes after 1 and gets
  // 2, 3, 4 from the log: nothing is lost.
  EXPECT_EQ(watcher.Pop(), nullptr);
  EXPECT_EQ(watcher.last_delivered(), 1u);
  watcher.OnEvent(Doc(5));
  EXPECT_EQ(watcher.Pop(), nullptr);
  EXPECT_EQ(wakes, wakes_before + 1);
}

TEST(WatcherTest, PoppingMakesRoom) {
  Anomalies anomalies;
  Watcher watcher(
      1, [] {}, anomalies);
  for (uint64_t i = 1; i <= 10; ++i) {
    watcher.OnEvent(Doc(i));
    EventPtr event = watcher.Pop();
    ASSERT_NE(event, nullptr);
    EXPECT_EQ(event->sequence, i);
  }
  EXPECT_FALSE(watcher.overflowed());
  EXPECT_EQ(watcher.last_delivered(), 10u);
}

TEST(WatcherTest, SessionEndedIsQueuedEvenWhenFull) {
  Anomalies anomalies;
  Watcher watcher(
      1, [] {}, anomalies);
  watcher.OnEvent(Doc(1));
  watcher.OnEvent(Ended(2));
  EXPECT_FALSE(watcher.overflowed());
  EXPECT_EQ(Drain(watcher), (std::vector<uint64_t>{1, 2}));
}

TEST(WatcherTest, WakeIsCalledWithoutTheLockHeld) {
  // A wake that reads the watcher would deadlock if the lock were held.
  std::unique_ptr<Watcher> watcher;
  std::vector<uint64_t> popped;
  Anomalies anomalies;
  watcher = std::make_unique<Watcher>(
      1,
      [&] {
        if (watcher->overflowed()) return;
        while (EventPtr event = watcher->Pop()) popped.push_back(event->sequence);
      },
      anomalies);
  watcher->SetReplay({Doc(1)});
  watcher->OnEvent(Doc(2));
  watcher->OnEvent(Doc(3));
  EXPECT_EQ(popped, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(anomalies.count, 0);
}

}  // namespace
}  // namespace docshare

namespace docshare {
namespace {

TEST(WatcherLostTest, ALostBackplaneEndsTheStreamAtTheLastDelivered) {
  int wakes = 0;
  Anomalies anomalies;
  Watcher watcher(
      8, [&] { ++wakes; }, anomalies);
  watcher.SetReplay({Doc(1), Doc(2)});
  ASSERT_NE(watcher.Pop(), nullptr);
  EXPECT_FALSE(watcher.lost());
  wakes = 0;
  watcher.OnBackplaneLost();
  watcher.OnBackplaneLost();  // told once is enough
  EXPECT_TRUE(watcher.lost());
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(watcher.Pop(), nullptr);  // the client resumes after 1
  EXPECT_EQ(watcher.last_delivered(), 1u);
}

}  // namespace
}  // namespace docshare
