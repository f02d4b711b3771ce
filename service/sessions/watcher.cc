#include "service/sessions/watcher.h"

#include <algorithm>
#include <string>
#include <utility>
#include <variant>

namespace docshare {
namespace {

bool IsSessionEnded(const EventPtr& event) {
  return std::holds_alternative<SessionEnded>(event->event);
}

}  // namespace

EventPtr WithoutPreviews(const SessionEvent& shared_event) {
  const Document& original = *std::get<DocumentShared>(shared_event.event).document;
  auto document = std::make_shared<Document>(original);
  document->previews.clear();
  document->filename.clear();
  auto event = std::make_shared<SessionEvent>();
  event->sequence = shared_event.sequence;
  event->time = shared_event.time;
  event->event = DocumentShared{std::move(document)};
  return event;
}

void Watcher::PurgeQueued(const std::string& document_id) {
  for (std::deque<EventPtr>* queue : {&replay_, &live_}) {
    for (EventPtr& queued : *queue) {
      const auto* shared = std::get_if<DocumentShared>(&queued->event);
      if (shared != nullptr && shared->document != nullptr &&
          shared->document->document_id == document_id) {
        queued = WithoutPreviews(*queued);
      }
    }
  }
}

Watcher::Watcher(size_t capacity, std::function<void()> wake, Observer& observer)
    : capacity_(capacity), wake_(std::move(wake)), observer_(observer) {}

void Watcher::Anomaly(std::string_view detail, uint64_t sequence) {
  observer_.SessionAnomaly("watcher_duplicate",
                           std::string(detail) + " " + std::to_string(sequence));
}

void Watcher::SetReplay(std::vector<EventPtr> replay) {
  bool queued = false;
  {
    absl::MutexLock lock(&mu_);
    uint64_t replay_last = 0;
    for (EventPtr& event : replay) {
      if (event == nullptr || event->sequence <= replay_last) {
        Anomaly("replay event out of order:", event == nullptr ? 0 : event->sequence);
        continue;
      }
      replay_last = event->sequence;
      replay_.push_back(std::move(event));
      queued = true;
    }
    // Live events can arrive before the replay is handed over (the store
    // registers the subscriber first), but the hub starts them after the
    // replay's last sequence: one the replay carries is a can't-happen.
    while (!live_.empty() && live_.front()->sequence <= replay_last) {
      Anomaly("live event already in the replay:", live_.front()->sequence);
      live_.pop_front();
    }
    last_queued_ = std::max(last_queued_, replay_last);
  }
  if (queued && wake_) wake_();
}

void Watcher::OnEvent(EventPtr event) {
  if (event == nullptr) return Anomaly("null live event", 0);
  {
    absl::MutexLock lock(&mu_);
    if (const auto* withdrawn = std::get_if<DocumentWithdrawn>(&event->event)) {
      PurgeQueued(withdrawn->document_id);
    }
    if (overflowed_) return;
    if (event->sequence <= last_queued_)
      return Anomaly("live event already queued:", event->sequence);
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
  absl::MutexLock lock(&mu_);
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
    absl::MutexLock lock(&mu_);
    if (lost_) return;
    lost_ = true;
  }
  wake_();
}

bool Watcher::lost() const {
  absl::MutexLock lock(&mu_);
  return lost_;
}

bool Watcher::overflowed() const {
  absl::MutexLock lock(&mu_);
  return overflowed_;
}

uint64_t Watcher::last_delivered() const {
  absl::MutexLock lock(&mu_);
  return last_delivered_;
}

}  // namespace docshare
