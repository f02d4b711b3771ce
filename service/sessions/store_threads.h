#ifndef DOCSHARE_SESSIONS_STORE_THREADS_H_
#define DOCSHARE_SESSIONS_STORE_THREADS_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace docshare {

// The threads a store that waits on I/O (Redis) runs its callers' calls on
// (SessionStore::Dispatch), so that no gRPC callback thread and no HTTP
// event loop ever waits on it. Bounded: a full queue refuses.
class StoreThreads {
 public:
  StoreThreads(int threads, size_t max_queued);
  ~StoreThreads();  // Stop()
  StoreThreads(const StoreThreads&) = delete;
  StoreThreads& operator=(const StoreThreads&) = delete;

  // False when `max_queued` calls already wait or the threads are stopping;
  // `work` then never runs. Never blocks.
  bool Submit(std::function<void()> work) ABSL_LOCKS_EXCLUDED(mu_);

  // Refuses new work, runs what is queued, then joins. Any thread but one
  // of these; again: a no-op.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_, join_mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);

  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex join_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_STORE_THREADS_H_
