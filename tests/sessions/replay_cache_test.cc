// ReplayCache: a session log's pages fetched and decoded once for all of a
// replica's watchers, under a byte budget.

#include "service/sessions/replay_cache.h"

#include <atomic>
#include <chrono>
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
using ::testing::Pair;

constexpr size_t kPage = 8;

// A session log of documents with `bytes` of previews each, and the ranges
// fetched from it.
class FakeLog {
 public:
  explicit FakeLog(int events, uint64_t bytes = 1000) : bytes_(bytes) {
    for (int i = 0; i < events; ++i) Add();
  }
  void Add() {
    absl::MutexLock lock(&mu_);
    auto event = std::make_shared<SessionEvent>();
    event->sequence = events_.size() + 1;
    event->event = DocumentShared{testing::Doc(bytes_)};
    events_.push_back(std::move(event));
  }
  ReplayCache::Fetch Fetch() {
    return [this](uint64_t from, uint64_t to) -> absl::StatusOr<std::vector<EventPtr>> {
      if (slow_) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      absl::MutexLock lock(&mu_);
      fetched_.emplace_back(from, to);
      if (fail_) return absl::UnavailableError("redis down");
      std::vector<EventPtr> out;
      for (const EventPtr& e : events_) {
        if (e->sequence >= from && e->sequence <= to) out.push_back(e);
      }
      return out;
    };
  }
  std::vector<std::pair<uint64_t, uint64_t>> fetched() {
    absl::MutexLock lock(&mu_);
    return fetched_;
  }
  void set_slow(bool slow) { slow_ = slow; }
  void set_fail(bool fail) {
    absl::MutexLock lock(&mu_);
    fail_ = fail;
  }

 private:
  const uint64_t bytes_;
  std::atomic<bool> slow_{false};
  absl::Mutex mu_;
  std::vector<EventPtr> events_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<uint64_t, uint64_t>> fetched_ ABSL_GUARDED_BY(mu_);
  bool fail_ ABSL_GUARDED_BY(mu_) = false;
};

std::vector<uint64_t> Sequences(const std::vector<EventPtr>& events) {
  std::vector<uint64_t> out;
  for (const EventPtr& e : events) out.push_back(e->sequence);
  return out;
}

std::vector<uint64_t> Range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> out;
  for (uint64_t s = from; s <= to; ++s) out.push_back(s);
  return out;
}

TEST(ReplayCache, ASecondReaderOfTheSessionFetchesNothingAndGetsTheSameEvents) {
  FakeLog log(20);
  ReplayCache cache(64 << 20, kPage);
  absl::StatusOr<std::vector<EventPtr>> first =
      cache.Read("s1", "n1", 1, 20, log.Fetch());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(Sequences(*first), Range(1, 20));
  EXPECT_THAT(log.fetched(), ElementsAre(Pair(1, 8), Pair(9, 16), Pair(17, 24)));
  absl::StatusOr<std::vector<EventPtr>> second =
      cache.Read("s1", "n1", 5, 20, log.Fetch());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(Sequences(*second), Range(5, 20));
  EXPECT_EQ(log.fetched().size(), 3u);  // all from the cache
  // One decoded copy: the same objects, not copies of them.
  EXPECT_EQ((*second)[0], (*first)[4]);
  EXPECT_EQ(cache.bytes(), 20 * ReplayCache::CostOf(*(*first)[0]));
}

TEST(ReplayCache, ConcurrentReadersOfOneSessionFetchEachPageOnce) {
  FakeLog log(24);
  log.set_slow(true);  // each fetch takes a while: the readers overlap
  ReplayCache cache(64 << 20, kPage);
  std::vector<std::thread> readers;
  std::atomic<int> whole{0};
  for (int i = 0; i < 8; ++i) {
    readers.emplace_back([&] {
      absl::StatusOr<std::vector<EventPtr>> r =
          cache.Read("s1", "n1", 1, 24, log.Fetch());
      if (r.ok() && Sequences(*r) == Range(1, 24)) whole.fetch_add(1);
    });
  }
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(whole.load(), 8);
  EXPECT_EQ(log.fetched().size(), 3u);
  EXPECT_EQ(cache.fetches(), 3u);
}

TEST(ReplayCache, APartialLastPageGrowsFromWhereItEnds) {
  FakeLog log(10);
  ReplayCache cache(64 << 20, kPage);
  ASSERT_TRUE(cache.Read("s1", "n1", 1, 10, log.Fetch()).ok());
  log.Add();  // 11
  absl::StatusOr<std::vector<EventPtr>> r = cache.Read("s1", "n1", 1, 11, log.Fetch());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Sequences(*r), Range(1, 11));
  // Only the new entry is read, not the page again.
  EXPECT_THAT(log.fetched(), ElementsAre(Pair(1, 8), Pair(9, 16), Pair(11, 16)));
}

TEST(ReplayCache, AShortLogIsReturnedAsFarAsItGoes) {
  FakeLog log(5);
  ReplayCache cache(64 << 20, kPage);
  absl::StatusOr<std::vector<EventPtr>> r = cache.Read("s1", "n1", 2, 30, log.Fetch());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Sequences(*r), Range(2, 5));
}

TEST(ReplayCache, AnotherStartOfTheIdIsAnotherLog) {
  FakeLog before(8), after(3);
  ReplayCache cache(64 << 20, kPage);
  ASSERT_TRUE(cache.Read("s1", "n1", 1, 8, before.Fetch()).ok());
  absl::StatusOr<std::vector<EventPtr>> r = cache.Read("s1", "n2", 1, 3, after.Fetch());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Sequences(*r), Range(1, 3));
  EXPECT_EQ(after.fetched().size(), 1u);  // not served from n1's pages
  EXPECT_EQ(cache.bytes(), 3 * ReplayCache::CostOf(*(*r)[0]));
}

TEST(ReplayCache, ForgetDropsTheSessionAndAFetchInFlightIsNotKept) {
  FakeLog log(8);
  ReplayCache cache(64 << 20, kPage);
  ASSERT_TRUE(cache.Read("s1", "n1", 1, 8, log.Fetch()).ok());
  cache.Forget("s1");
  EXPECT_EQ(cache.bytes(), 0u);
  // Forgotten while its fetch is under way (a withdrawal rewrote the log):
  // what the fetch read is served, not kept.
  ReplayCache::Fetch raw = log.Fetch();
  auto forgetting = [&](uint64_t from, uint64_t to) {
    cache.Forget("s1");
    return raw(from, to);
  };
  absl::StatusOr<std::vector<EventPtr>> r = cache.Read("s1", "n1", 1, 8, forgetting);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 8u);
  EXPECT_EQ(cache.bytes(), 0u);
  ASSERT_TRUE(cache.Read("s1", "n1", 1, 8, log.Fetch()).ok());
  EXPECT_EQ(log.fetched().size(), 3u);  // each read after a Forget fetched
}

TEST(ReplayCache, TheBudgetEvictsTheLeastRecentlyReadSession) {
  FakeLog a(8, 10000), b(8, 10000), c(8, 10000);
  const uint64_t session =
      8 *
      (ReplayCache::CostOf(SessionEvent{.event = DocumentShared{testing::Doc(10000)}}));
  ReplayCache cache(2 * session, kPage);  // two sessions fit
  ASSERT_TRUE(cache.Read("a", "n", 1, 8, a.Fetch()).ok());
  ASSERT_TRUE(cache.Read("b", "n", 1, 8, b.Fetch()).ok());
  ASSERT_TRUE(cache.Read("a", "n", 1, 8, a.Fetch()).ok());  // a is the more recent
  ASSERT_TRUE(cache.Read("c", "n", 1, 8, c.Fetch()).ok());  // evicts b
  EXPECT_EQ(cache.bytes(), 2 * session);
  ASSERT_TRUE(cache.Read("a", "n", 1, 8, a.Fetch()).ok());
  ASSERT_TRUE(cache.Read("b", "n", 1, 8, b.Fetch()).ok());
  EXPECT_EQ(a.fetched().size(), 1u);
  EXPECT_EQ(b.fetched().size(), 2u);
  EXPECT_LE(cache.bytes(), 2 * session);
}

TEST(ReplayCache, ZeroBudgetKeepsNothing) {
  FakeLog log(8);
  ReplayCache cache(0, kPage);
  ASSERT_TRUE(cache.Read("s1", "n1", 1, 8, log.Fetch()).ok());
  ASSERT_TRUE(cache.Read("s1", "n1", 1, 8, log.Fetch()).ok());
  EXPECT_EQ(log.fetched().size(), 2u);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(ReplayCache, AFetchErrorIsReturnedAndNothingIsKept) {
  FakeLog log(8);
  log.set_fail(true);
  ReplayCache cache(64 << 20, kPage);
  absl::StatusOr<std::vector<EventPtr>> r = cache.Read("s1", "n1", 1, 8, log.Fetch());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(cache.bytes(), 0u);
  log.set_fail(false);
  r = cache.Read("s1", "n1", 1, 8, log.Fetch());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Sequences(*r), Range(1, 8));
}

TEST(ReplayCache, ALogWithAHoleIsServedButNotKept) {
  ReplayCache cache(64 << 20, kPage);
  int fetches = 0;
  auto holey = [&](uint64_t from, uint64_t to) -> absl::StatusOr<std::vector<EventPtr>> {
    ++fetches;
    std::vector<EventPtr> out;
    for (uint64_t s : {1, 2, 4}) {
      auto e = std::make_shared<SessionEvent>();
      e->sequence = s;
      out.push_back(std::move(e));
    }
    return out;
  };
  absl::StatusOr<std::vector<EventPtr>> r = cache.Read("s1", "n1", 1, 4, holey);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Sequences(*r), (std::vector<uint64_t>{1, 2, 4}));
  EXPECT_EQ(cache.bytes(), 0u);
  ASSERT_TRUE(cache.Read("s1", "n1", 1, 4, holey).ok());
  EXPECT_EQ(fetches, 2);
}

}  // namespace
}  // namespace docshare
