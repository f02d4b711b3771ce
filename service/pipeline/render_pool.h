#ifndef DOCSHARE_PIPELINE_RENDER_POOL_H_
#define DOCSHARE_PIPELINE_RENDER_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "service/common/observer.h"

namespace docshare {

// A fixed set of worker threads with a bounded queue. Submit never waits:
// when every worker is busy and `queue_capacity` jobs already wait it returns
// RESOURCE_EXHAUSTED.
class RenderPool {
 public:
  RenderPool(int workers, int queue_capacity, Observer& observer);
  ~RenderPool();  // Shutdown()

  absl::Status Submit(std::function<void()> job);
  // Runs every queued job, then joins the workers. Submit fails afterwards.
  void Shutdown();

  int queue_depth() const;
  int in_flight() const;

 private:
  void Work();
  void Report();  // under mu_

  const int worker_count_;
  const int queue_capacity_;
  Observer& observer_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  int in_flight_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_RENDER_POOL_H_
