#include "service/pipeline/render_pool.h"

#include <atomic>
#include <future>
#include <mutex>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace docshare {
namespace {

class RecordingObserver final : public Observer {
 public:
  void RenderQueue(int depth, int in_flight) override {
    std::lock_guard lock(mu_);
    reports_.emplace_back(depth, in_flight);
  }
  void RenderShed() override { ++shed_; }
  std::vector<std::pair<int, int>> reports() const {
    std::lock_guard lock(mu_);
    return reports_;
  }
  int shed() const { return shed_; }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<int, int>> reports_;
  std::atomic<int> shed_{0};
};

// A job that signals when it starts and then waits to be released.
struct Blocker {
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::function<void()> Job() {
    return [this] {
      started.set_value();
      released.wait();
    };
  }
};

TEST(RenderPoolTest, RunsJobsAndReportsEveryChange) {
  RecordingObserver observer;
  Blocker blocker;  // outlives the pool that runs its job
  RenderPool pool(/*workers=*/1, /*queue_capacity=*/4, observer);
  ASSERT_TRUE(pool.Submit(blocker.Job()).ok());
  blocker.started.get_future().wait();
  EXPECT_EQ(pool.in_flight(), 1);
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.Submit([&] { ++ran; }).ok());
  EXPECT_EQ(pool.queue_depth(), 1);
  blocker.release.set_value();
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(pool.queue_depth(), 0);
  EXPECT_EQ(pool.in_flight(), 0);
  const std::vector<std::pair<int, int>> expected = {
      {1, 0}, {0, 1},  // blocker queued, then taken
      {1, 1},          // second job queued behind it
      {1, 0}, {0, 1},  // blocker done, second taken
      {0, 0}};
  EXPECT_EQ(observer.reports(), expected);
}

TEST(RenderPoolTest, AFullQueueIsResourceExhausted) {
  RecordingObserver observer;
  Blocker blocker;  // outlives the pool that runs its job
  RenderPool pool(/*workers=*/1, /*queue_capacity=*/2, observer);
  ASSERT_TRUE(pool.Submit(blocker.Job()).ok());
  blocker.started.get_future().wait();  // the worker is busy: jobs now wait
  ASSERT_TRUE(pool.Submit([] {}).ok());
  ASSERT_TRUE(pool.Submit([] {}).ok());
  absl::Status status = pool.Submit([] {});
  EXPECT_TRUE(absl::IsResourceExhausted(status)) << status;
  EXPECT_EQ(std::string(status.message()),
            "render pool is full: 2 shares waiting; retry shortly");
  EXPECT_EQ(observer.shed(), 1);
  EXPECT_EQ(pool.queue_depth(), 2);
  blocker.release.set_value();
}

TEST(RenderPoolTest, ShutdownDrainsQueuedJobsThenRefuses) {
  NullObserver observer;
  std::atomic<int> ran{0};
  Blocker blocker;
  {
    RenderPool pool(/*workers=*/2, /*queue_capacity=*/100, observer);
    ASSERT_TRUE(pool.Submit(blocker.Job()).ok());
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(pool.Submit([&] { ++ran; }).ok());
    blocker.release.set_value();
    pool.Shutdown();
    EXPECT_EQ(ran.load(), 50);
    absl::Status status = pool.Submit([&] { ++ran; });
    EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  }  // the destructor after Shutdown joins nothing twice
  EXPECT_EQ(ran.load(), 50);
}

TEST(RenderPoolTest, WorkersRunInParallel) {
  NullObserver observer;
  Blocker a, b, c;  // outlive the pool that runs their jobs
  RenderPool pool(/*workers=*/3, /*queue_capacity=*/10, observer);
  ASSERT_TRUE(pool.Submit(a.Job()).ok());
  ASSERT_TRUE(pool.Submit(b.Job()).ok());
  ASSERT_TRUE(pool.Submit(c.Job()).ok());
  // All three started while none was released: three workers.
  a.started.get_future().wait();
  b.started.get_future().wait();
  c.started.get_future().wait();
  EXPECT_EQ(pool.in_flight(), 3);
  a.release.set_value();
  b.release.set_value();
  c.release.set_value();
  pool.Shutdown();
  EXPECT_EQ(pool.in_flight(), 0);
}

}  // namespace
}  // namespace docshare
