#include "service/sessions/watcher.h"

#include <algorithm>
#include <utility>
#include <variant>

namespace docshare {
namespace {

bool IsSessionEnded(const EventPtr& event) {
  return std::holds_alternative<SessionEnded>(event->event);
}

}  // namespace

Watcher::Watcher(size_t capacity, std::function<void()> wake)
    : capacity_(capacity), wake_(std::move(wake)) {}

void Watcher::SetReplay(std::vector<EventPtr> replay) {
  bool queued = false;
  {
    std::lock_guard lock(mu_);
    uint64_t replay_last = 0;
    for (EventPtr& event : replay) {
      if (event == nullptr || event->sequence <= replay_last) continue;
      replay_last = event->sequence;
      replay_.push_back(std::move(event));
      queued = true;
    }
    // Live events can arrive before the replay is handed over (the backplane
    // registers the subscriber first); drop any the replay already carries.
    while (!live_.empty() && live_.front()->sequence <= replay_last) live_.pop_front();
    last_queued_ = std::max(last_queued_, replay_last);
  }
  if (queued && wake_) wake_();
}

void Watcher::OnEvent(EventPtr event) {
  if (event == nullptr) return;
  {
    std::lock_guard lock(mu_);
    if (overflowed_ || event->sequence <= last_queued_) return;
    if (live_.size() >= capacity_ && !IsSessionEnded(event)) {
      overflowed_ = true;
      live_.clear();  // the writer ends the stream; the client resumes
    } else {
      last_queued_ = event->sequence;
      live_.push_back(std::move(event));
    }
  }
  if (wake_) wake_();
}

EventPtr Watcher::Pop() {
  std::lock_guard lock(mu_);
  if (overflowed_ || lost_) return nullptr;
  std::deque<EventPtr>& from = replay_.empty() ? live_ : replay_;
  if (from.empty()) return nullptr;
  EventPtr event = std::move(from.front());
  from.pop_front();
  last_delivered_ = event->sequence;
  return event;
}

void Watcher::OnBackplaneLost() {
  {
    std::lock_guard lock(mu_);
    if (lost_) return;
    lost_ = true;
  }
  wake_();
}

bool Watcher::lost() const {
  std::lock_guard lock(mu_);
  return lost_;
}

bool Watcher::overflowed() const {
  std::lock_guard lock(mu_);
  return overflowed_;
}

uint64_t Watcher::last_delivered() const {
  std::lock_guard lock(mu_);
  return last_delivered_;
}

}  // namespace docshare
