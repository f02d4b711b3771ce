// Issue 12, attack 5 (first half): one session's backlog must not keep
// another session waiting or refused. Real threads, no sleeps: jobs block on
// promises the test releases.
#include <atomic>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "service/pipeline/render_pool.h"

namespace docshare {
namespace {

class CountingObserver final : public Observer {
 public:
  void AdmissionRefused(std::string_view limit) override {
    if (limit == "session_renders") ++session_renders;
  }
  void RenderShed() override { ++shed; }
  std::atomic<int> session_renders{0};
  std::atomic<int> shed{0};
};

// Records the order jobs start in; each job waits for its own release.
class Gate {
 public:
  explicit Gate(int jobs) : release_(jobs), started_(jobs) {
    for (int i = 0; i < jobs; ++i) released_.push_back(release_[i].get_future().share());
  }
  std::function<void()> Job(int i) {
    return [this, i] {
      {
        std::lock_guard lock(mu_);
        order_.push_back(i);
      }
      started_[i].set_value();
      released_[i].wait();
    };
  }
  void WaitStarted(int i) { started_[i].get_future().wait(); }
  void Release(int i) { release_[i].set_value(); }
  std::vector<int> order() {
    std::lock_guard lock(mu_);
    return order_;
  }

 private:
  std::vector<std::promise<void>> release_;
  std::vector<std::shared_future<void>> released_;
  std::vector<std::promise<void>> started_;
  std::mutex mu_;
  std::vector<int> order_;
};

TEST(RenderPoolFairness, ASessionHoldsAtMostItsShareAndOthersStillGetIn) {
  CountingObserver observer;
  Gate gate(8);
  {
    // 2 workers, 16 waiting: the defaults of a 2-core machine.
    RenderPool pool(/*workers=*/2, /*queue_capacity=*/16, observer, /*max_per_key=*/4);
    // Session A shares six large GIFs: four are taken (two run, two wait),
    // two refused at once.
    ASSERT_TRUE(pool.Submit("A", gate.Job(0)).ok());
    ASSERT_TRUE(pool.Submit("A", gate.Job(1)).ok());
    gate.WaitStarted(0);
    gate.WaitStarted(1);
    for (int i = 2; i < 4; ++i) ASSERT_TRUE(pool.Submit("A", gate.Job(i)).ok()) << i;
    for (int i = 0; i < 2; ++i) {
      absl::Status refused = pool.Submit("A", [] {});
      EXPECT_TRUE(absl::IsResourceExhausted(refused)) << refused;
      EXPECT_NE(refused.message().find("--max-session-renders"), std::string::npos);
    }
    EXPECT_EQ(observer.session_renders.load(), 2);
    EXPECT_EQ(observer.shed.load(), 0) << "the pool itself is not full";
    // Session B is not refused...
    ASSERT_TRUE(pool.Submit("B", gate.Job(4)).ok());
    // ...and runs on the first worker A frees, ahead of A's two waiting GIFs.
    gate.Release(0);
    gate.WaitStarted(4);
    EXPECT_EQ(gate.order(), (std::vector<int>{0, 1, 4}));
    // A's waiting GIFs then run in the order they came. Each start is
    // awaited before the next worker frees: a job records its start from its
    // own thread, so two workers picking at once could record out of order.
    gate.Release(1);
    gate.WaitStarted(2);
    gate.Release(4);
    gate.WaitStarted(3);
    for (int i : {2, 3}) gate.Release(i);
    pool.Shutdown();
  }
  EXPECT_EQ(gate.order(), (std::vector<int>{0, 1, 4, 2, 3}));
}

TEST(RenderPoolFairness, FreeWorkersGoToTheSessionRunningTheFewest) {
  CountingObserver observer;
  Gate gate(6);
  {
    RenderPool pool(/*workers=*/1, /*queue_capacity=*/8, observer, /*max_per_key=*/0);
    ASSERT_TRUE(pool.Submit("A", gate.Job(0)).ok());
    gate.WaitStarted(0);
    // A queues two more, then B and C one each: round robin A, B, C, A.
    ASSERT_TRUE(pool.Submit("A", gate.Job(1)).ok());
    ASSERT_TRUE(pool.Submit("A", gate.Job(2)).ok());
    ASSERT_TRUE(pool.Submit("B", gate.Job(3)).ok());
    ASSERT_TRUE(pool.Submit("C", gate.Job(4)).ok());
    for (int i : {0, 1, 3, 4, 2}) gate.Release(i);
    pool.Shutdown();
  }
  EXPECT_EQ(gate.order(), (std::vector<int>{0, 1, 3, 4, 2}));
  EXPECT_EQ(observer.session_renders.load(), 0) << "0 means no cap per session";
}

TEST(RenderPoolFairness, TheWholePoolStillFillsUp) {
  CountingObserver observer;
  Gate gate(3);
  {
    RenderPool pool(/*workers=*/1, /*queue_capacity=*/2, observer, /*max_per_key=*/2);
    ASSERT_TRUE(pool.Submit("A", gate.Job(0)).ok());
    ASSERT_TRUE(pool.Submit("A", gate.Job(1)).ok());
    ASSERT_TRUE(pool.Submit("B", gate.Job(2)).ok());
    absl::Status full = pool.Submit("C", [] {});
    EXPECT_TRUE(absl::IsResourceExhausted(full)) << full;
    EXPECT_NE(full.message().find("render pool is full"), std::string::npos);
    EXPECT_EQ(observer.shed.load(), 1);
    for (int i = 0; i < 3; ++i) gate.Release(i);
    pool.Shutdown();
  }
  EXPECT_EQ(gate.order().size(), 3u);
}

}  // namespace
}  // namespace docshare
