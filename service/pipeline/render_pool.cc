#include "service/pipeline/render_pool.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace docshare {

RenderPool::RenderPool(int workers, int queue_capacity, Observer& observer,
                       int max_per_key)
    : worker_count_(workers),
      queue_capacity_(queue_capacity),
      max_per_key_(max_per_key),
      observer_(observer) {
  absl::MutexLock lock(&mu_);
  workers_.reserve(workers);
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { Work(); });
}

RenderPool::~RenderPool() { Shutdown(); }

absl::Status RenderPool::Submit(const std::string& key, std::function<void()> job) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("render pool is shutting down");
  // Full when every worker is busy and queue_capacity jobs already wait
  // (counted together, so it does not matter whether an idle worker has
  // picked up its job yet).
  if (queued_ + in_flight_ >= worker_count_ + queue_capacity_) {
    observer_.RenderShed();
    return absl::ResourceExhaustedError(
        absl::StrCat("render pool is full: ", queued_, " shares waiting; retry shortly"));
  }
  Lane& lane = lanes_[key];
  const int held = static_cast<int>(lane.queue.size()) + lane.running;
  if (max_per_key_ != 0 && held >= max_per_key_) {
    observer_.AdmissionRefused("session_renders");
    return absl::ResourceExhaustedError(
        absl::StrCat("this session already has ", held,
                     " shares rendering or waiting (--max-session-renders); retry "
                     "shortly"));
  }
  if (lane.queue.empty()) waiting_.push_back(key);
  lane.queue.push_back(std::move(job));
  ++queued_;
  Report();
  work_.Signal();
  return absl::OkStatus();
}

void RenderPool::Shutdown() {
  std::vector<std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    workers.swap(workers_);  // a second Shutdown (the destructor) joins nothing
    work_.SignalAll();
  }
  for (std::thread& worker : workers) worker.join();
}

int RenderPool::queue_depth() const {
  absl::MutexLock lock(&mu_);
  return queued_;
}

int RenderPool::in_flight() const {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

std::function<void()> RenderPool::Next(std::string& key) {
  // The waiting key that runs the fewest jobs; the earliest in line among
  // equals. A handful of sessions wait at most: a scan is cheap.
  auto best = waiting_.begin();
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if (lanes_[*it].running < lanes_[*best].running) best = it;
  }
  key = *best;
  waiting_.erase(best);
  Lane& lane = lanes_[key];
  std::function<void()> job = std::move(lane.queue.front());
  lane.queue.pop_front();
  if (!lane.queue.empty()) waiting_.push_back(key);  // to the back of the line
  ++lane.running;
  --queued_;
  return job;
}

void RenderPool::Work() {
  absl::MutexLock lock(&mu_);
  while (true) {
    while (!stopping_ && queued_ == 0) work_.Wait(&mu_);
    if (queued_ == 0) return;  // stopping, and every queued job has run
    std::string key;
    std::function<void()> job = Next(key);
    ++in_flight_;
    Report();
    mu_.Unlock();
    job();
    job = nullptr;  // release what the job captured before reporting
    mu_.Lock();
    --in_flight_;
    auto lane = lanes_.find(key);
    if (lane == lanes_.end()) std::abort();  // can't happen: a running lane is kept
    if (--lane->second.running == 0 && lane->second.queue.empty()) lanes_.erase(lane);
    Report();
  }
}

void RenderPool::Report() { observer_.RenderQueue(queued_, in_flight_); }

}  // namespace docshare
