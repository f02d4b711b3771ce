#include "service/pipeline/render_pool.h"

#include <string>
#include <utility>

namespace docshare {

RenderPool::RenderPool(int workers, int queue_capacity, Observer& observer)
    : worker_count_(workers), queue_capacity_(queue_capacity), observer_(observer) {
  workers_.reserve(workers);
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { Work(); });
}

RenderPool::~RenderPool() { Shutdown(); }

absl::Status RenderPool::Submit(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return absl::UnavailableError("render pool is shutting down");
    // Full when every worker is busy and queue_capacity jobs already wait
    // (counted together, so it does not matter whether an idle worker has
    // picked up its job yet).
    if (static_cast<int>(queue_.size()) + in_flight_ >= worker_count_ + queue_capacity_) {
      observer_.RenderShed();
      return absl::ResourceExhaustedError("render pool is full: " +
                                          std::to_string(queue_.size()) +
                                          " shares waiting; retry shortly");
    }
    queue_.push_back(std::move(job));
    Report();
  }
  cv_.notify_one();
  return absl::OkStatus();
}

void RenderPool::Shutdown() {
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    workers.swap(workers_);  // a second Shutdown (the destructor) joins nothing
  }
  cv_.notify_all();
  for (std::thread& worker : workers) worker.join();
}

int RenderPool::queue_depth() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(queue_.size());
}

int RenderPool::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

void RenderPool::Work() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and every queued job has run
    std::function<void()> job = std::move(queue_.front());
    queue_.pop_front();
    ++in_flight_;
    Report();
    lock.unlock();
    job();
    job = nullptr;  // release what the job captured before reporting
    lock.lock();
    --in_flight_;
    Report();
  }
}

void RenderPool::Report() { observer_.RenderQueue(static_cast<int>(queue_.size()), in_flight_); }

}  // namespace docshare
