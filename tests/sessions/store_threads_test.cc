#include "service/sessions/store_threads.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace docshare {
namespace {

TEST(StoreThreadsTest, RunsWorkOnItsOwnThreads) {
  StoreThreads threads(2, 16);
  absl::Notification ran;
  std::thread::id where;
  ASSERT_TRUE(threads.Submit([&] {
    where = std::this_thread::get_id();
    ran.Notify();
  }));
  ran.WaitForNotification();
  EXPECT_NE(where, std::this_thread::get_id());
}

TEST(StoreThreadsTest, AFullQueueRefusesAndTheRefusedWorkNeverRuns) {
  StoreThreads threads(1, 1);
  absl::Notification started, release;
  std::atomic<int> ran{0};
  ASSERT_TRUE(threads.Submit([&] {
    started.Notify();
    release.WaitForNotification();
    ++ran;
  }));
  started.WaitForNotification();                      // the one thread is busy
  EXPECT_TRUE(threads.Submit([&] { ++ran; }));        // waits: the queue's one place
  EXPECT_FALSE(threads.Submit([&] { ran += 100; }));  // refused
  release.Notify();
  threads.Stop();
  EXPECT_EQ(ran.load(), 2);
}

TEST(StoreThreadsTest, StopRunsWhatIsQueuedThenRefuses) {
  StoreThreads threads(1, 64);
  std::atomic<int> ran{0};
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(threads.Submit([&] { ++ran; }));
  threads.Stop();
  EXPECT_EQ(ran.load(), 50);
  EXPECT_FALSE(threads.Submit([&] { ++ran; }));
  threads.Stop();  // again: nothing to do
  EXPECT_EQ(ran.load(), 50);
}

}  // namespace
}  // namespace docshare
