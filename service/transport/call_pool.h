#ifndef DOCSHARE_TRANSPORT_CALL_POOL_H_
#define DOCSHARE_TRANSPORT_CALL_POOL_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace docshare {

// Runs the session store calls of RPCs (StartSession, EndSession,
// WithdrawDocument, AcknowledgeDocument, GetSession, and WatchSession's
// authorization and replay read: Redis round trips) off gRPC's callback
// threads, which must never wait on Redis; the RPC goes on from here, as a
// share finishes from the render pool. Bounded: a full queue refuses.
class CallPool {
 public:
  // What a call refused by a full pool answers (RESOURCE_EXHAUSTED).
  static absl::Status FullError();

  CallPool(int threads, size_t max_queued);
  ~CallPool();  // runs what is queued, then joins
  CallPool(const CallPool&) = delete;
  CallPool& operator=(const CallPool&) = delete;

  // False when `max_queued` calls already wait (the caller answers
  // RESOURCE_EXHAUSTED); `work` then never runs.
  bool Submit(std::function<void()> work) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);

  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace docshare

#endif  // DOCSHARE_TRANSPORT_CALL_POOL_H_
