#ifndef DOCSHARE_PIPELINE_RENDER_POOL_H_
#define DOCSHARE_PIPELINE_RENDER_POOL_H_

#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "service/common/observer.h"

namespace docshare {

// A fixed set of worker threads with a bounded queue. Submit never waits:
// when every worker is busy and `queue_capacity` jobs already wait it returns
// RESOURCE_EXHAUSTED.
//
// Fair between keys (sessions; issue 12, attack 5: one participant's six
// large GIFs kept every other session at RESOURCE_EXHAUSTED, then waiting
// 19 s in one FIFO): a key may hold at most `max_per_key` jobs, waiting and
// running together, and a free worker takes the next job of the key that
// runs the fewest, round-robin among equals, so another session's share runs
// as soon as a worker frees instead of after the whole backlog.
class RenderPool {
 public:
  // `max_per_key` 0: no cap per key.
  RenderPool(int workers, int queue_capacity, Observer& observer, int max_per_key = 0);
  ~RenderPool();  // Shutdown()

  absl::Status Submit(const std::string& key, std::function<void()> job);
  absl::Status Submit(std::function<void()> job) { return Submit("", std::move(job)); }
  // Runs every queued job, then joins the workers. Submit fails afterwards.
  void Shutdown();

  int queue_depth() const;
  int in_flight() const;

 private:
  struct Lane {
    std::deque<std::function<void()>> queue;
    int running = 0;
  };
  void Work();
  // The next job by fairness; `key` names its lane. Needs a queued job.
  std::function<void()> Next(std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Report() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int worker_count_;
  const int queue_capacity_;
  const int max_per_key_;
  Observer& observer_;
  mutable absl::Mutex mu_;
  absl::CondVar work_;
  absl::flat_hash_map<std::string, Lane> lanes_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> waiting_ ABSL_GUARDED_BY(mu_);  // keys with queued jobs
  int queued_ ABSL_GUARDED_BY(mu_) = 0;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_RENDER_POOL_H_
