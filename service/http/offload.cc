#include "service/http/offload.h"

#include <utility>

namespace docshare {

Offload::Offload(int threads, size_t queue) : queue_limit_(queue) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

Offload::~Offload() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

bool Offload::Run(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || tasks_.size() >= queue_limit_) return false;
  tasks_.push_back(std::move(task));
  return true;
}

void Offload::Work() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Offload* o) ABSL_EXCLUSIVE_LOCKS_REQUIRED(o->mu_) {
            return o->stopping_ || !o->tasks_.empty();
          },
          this));
      if (tasks_.empty()) return;  // stopping, and nothing left
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace docshare
