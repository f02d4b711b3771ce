#include "service/transport/call_pool.h"

#include <utility>

#include "service/transport/services.h"
#include "service/transport/status.h"

namespace docshare {

void FinishOffThread(const ServiceDeps& deps, grpc::ServerUnaryReactor* reactor,
                     std::function<absl::Status()> work) {
  if (deps.calls == nullptr) return reactor->Finish(ToGrpcStatus(work()));
  auto run = [reactor, work] { reactor->Finish(ToGrpcStatus(work())); };
  if (!deps.calls->Submit(run)) {
    reactor->Finish(ToGrpcStatus(CallPool::FullError()));
  }
}

absl::Status CallPool::FullError() {
  return absl::ResourceExhaustedError(
      "too many session calls are waiting for the session store; retry later");
}

CallPool::CallPool(int threads, size_t max_queued) : max_queued_(max_queued) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

CallPool::~CallPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

bool CallPool::Submit(std::function<void()> work) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= max_queued_) return false;
  queue_.push_back(std::move(work));
  return true;
}

void CallPool::Run() {
  while (true) {
    std::function<void()> work;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](CallPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
            return p->stopping_ || !p->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and nothing left to run
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

}  // namespace docshare
