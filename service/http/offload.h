#ifndef DOCSHARE_HTTP_OFFLOAD_H_
#define DOCSHARE_HTTP_OFFLOAD_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace docshare {

// A few threads for the HTTP routes' blocking calls (the session store:
// Redis round trips, its locks), so the event loop never waits for one. A
// task finishes by handing its answer back to the loop (HttpExchange).
class Offload {
 public:
  // `threads` workers; at most `queue` tasks waiting (beyond: Run refuses).
  Offload(int threads, size_t queue);
  ~Offload();  // runs what is queued, then joins
  Offload(const Offload&) = delete;
  Offload& operator=(const Offload&) = delete;

  // false when the queue is full or the pool stopped (the caller answers
  // 503): never blocks.
  bool Run(std::function<void()> task);

 private:
  void Work();

  const size_t queue_limit_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace docshare

#endif  // DOCSHARE_HTTP_OFFLOAD_H_
