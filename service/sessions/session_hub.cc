#include "service/sessions/session_hub.h"

#include <deque>
#include <limits>
#include <thread>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"

namespace docshare {

struct SessionHub::Item {
  enum class Kind { kEvent, kCatchUp, kLost };
  Kind kind = Kind::kEvent;
  std::string nonce;  // kEvent
  EventPtr event;     // kEvent
};

class SessionHub::Watch {
 public:
  Watch(std::string session, Subscriber* s, uint64_t feed_epoch)
      : id(std::move(session)), subscriber(s), epoch(feed_epoch) {}

  const std::string id;
  Subscriber* const subscriber;
  const uint64_t epoch;  // the feed's at registration

  absl::Mutex mu;
  // Cleared when cancelled or done: nothing more is handed on.
  bool open ABSL_GUARDED_BY(mu) = true;
  bool done ABSL_GUARDED_BY(mu) = false;  // SessionEnded handed on, or lost
  bool ready ABSL_GUARDED_BY(mu) = false;
  std::string nonce ABSL_GUARDED_BY(mu);
  uint64_t next ABSL_GUARDED_BY(mu) = 0;       // the sequence the subscriber needs next
  std::deque<Item> held ABSL_GUARDED_BY(mu);   // offered before Ready
  std::deque<Item> inbox ABSL_GUARDED_BY(mu);  // offered, not yet drained
  bool draining ABSL_GUARDED_BY(mu) = false;
  std::thread::id drainer ABSL_GUARDED_BY(mu);
};

class SessionHub::LiveWatch final : public Subscription {
 public:
  LiveWatch(std::shared_ptr<SessionHub> hub, std::shared_ptr<Watch> watch)
      : hub_(std::move(hub)), watch_(std::move(watch)) {}
  ~LiveWatch() override { hub_->Cancel(watch_); }

 private:
  std::shared_ptr<SessionHub> hub_;
  std::shared_ptr<Watch> watch_;
};

SessionHub::SessionHub(Fill fill, std::function<void(const std::string&)> last_gone,
                       Observer& observer)
    : fill_(std::move(fill)), last_gone_(std::move(last_gone)), observer_(observer) {}

SessionHub::~SessionHub() = default;

std::shared_ptr<SessionHub::Watch> SessionHub::Register(std::string id,
                                                        Subscriber* subscriber) {
  absl::MutexLock lock(&mu_);
  auto watch = std::make_shared<Watch>(std::move(id), subscriber, epoch_);
  watches_.emplace(watch->id, watch);
  return watch;
}

void SessionHub::Ready(const std::shared_ptr<Watch>& watch, std::string nonce,
                       uint64_t last) {
  bool stale;
  {
    absl::MutexLock lock(&mu_);
    stale = !feed_up_ || epoch_ != watch->epoch;
  }
  {
    absl::MutexLock lock(&watch->mu);
    watch->nonce = std::move(nonce);
    watch->next = last + 1;
    watch->ready = true;
    // What was held comes before anything offered since.
    while (!watch->held.empty()) {
      watch->inbox.push_front(std::move(watch->held.back()));
      watch->held.pop_back();
    }
    // Registered while the feed was down, or it reconnected since: what was
    // published meanwhile never reached the watch, and the reconnect's
    // catch-up may have come before it was ready.
    if (stale) watch->inbox.push_back(Item{.kind = Item::Kind::kCatchUp});
  }
  Drain(watch);
}

std::shared_ptr<SessionHub::Watch> SessionHub::RegisterReady(std::string id,
                                                             Subscriber* subscriber,
                                                             std::string nonce,
                                                             uint64_t last) {
  absl::MutexLock lock(&mu_);
  auto watch = std::make_shared<Watch>(std::move(id), subscriber, epoch_);
  {
    absl::MutexLock watch_lock(&watch->mu);
    watch->nonce = std::move(nonce);
    watch->next = last + 1;
    watch->ready = true;
  }
  watches_.emplace(watch->id, watch);
  return watch;
}

std::unique_ptr<Subscription> SessionHub::Live(std::shared_ptr<Watch> watch) {
  return std::make_unique<LiveWatch>(shared_from_this(), std::move(watch));
}

void SessionHub::Drop(const std::shared_ptr<Watch>& watch) { Cancel(watch); }

void SessionHub::Publish(const std::string& id, const std::string& nonce,
                         const EventPtr& event) {
  std::vector<std::shared_ptr<Watch>> targets;
  {
    absl::MutexLock lock(&mu_);
    auto [first, last] = watches_.equal_range(id);
    for (auto it = first; it != last; ++it) targets.push_back(it->second);
  }
  for (const auto& watch : targets) {
    Offer(watch, Item{.kind = Item::Kind::kEvent, .nonce = nonce, .event = event});
  }
}

void SessionHub::SetFeed(bool up) {
  {
    absl::MutexLock lock(&mu_);
    if (feed_up_ == up) return;
    feed_up_ = up;
    if (!up) return;
    ++epoch_;
  }
  for (const auto& watch : All()) Offer(watch, Item{.kind = Item::Kind::kCatchUp});
}

void SessionHub::LoseAll() {
  for (const auto& watch : All()) Offer(watch, Item{.kind = Item::Kind::kLost});
}

bool SessionHub::Watched(std::string_view id) const {
  absl::MutexLock lock(&mu_);
  return watches_.contains(std::string(id));
}

uint32_t SessionHub::CountOf(std::string_view id) const {
  absl::MutexLock lock(&mu_);
  return static_cast<uint32_t>(watches_.count(std::string(id)));
}

std::map<std::string, uint64_t> SessionHub::Counts() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, uint64_t> counts;
  for (const auto& [id, watch] : watches_) ++counts[id];
  return counts;
}

std::vector<std::shared_ptr<SessionHub::Watch>> SessionHub::All() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Watch>> out;
  out.reserve(watches_.size());
  for (const auto& [id, watch] : watches_) out.push_back(watch);
  return out;
}

void SessionHub::Offer(const std::shared_ptr<Watch>& watch, Item item) {
  {
    absl::MutexLock lock(&watch->mu);
    if (!watch->open) return;
    watch->inbox.push_back(std::move(item));
  }
  Drain(watch);
}

void SessionHub::Drain(const std::shared_ptr<Watch>& watch) {
  Watch& w = *watch;
  w.mu.Lock();
  {
    if (w.draining) return w.mu.Unlock();  // that thread hands this on too
    w.draining = true;
    w.drainer = std::this_thread::get_id();
    while (w.open && !w.inbox.empty()) {
      Item item = std::move(w.inbox.front());
      w.inbox.pop_front();
      if (!w.ready) {
        w.held.push_back(std::move(item));
        continue;
      }
      if (item.kind == Item::Kind::kLost) {
        w.open = false;
        w.done = true;
        w.mu.Unlock();
        w.subscriber->OnBackplaneLost();
        w.mu.Lock();
        break;
      }
      std::vector<EventPtr> events;
      uint64_t gap_to = 0;  // read next..gap_to from the log first
      if (item.kind == Item::Kind::kCatchUp) {
        gap_to = std::numeric_limits<uint64_t>::max();
      } else {
        if (item.nonce != w.nonce || item.event->sequence < w.next) continue;
        if (item.event->sequence > w.next) gap_to = item.event->sequence - 1;
      }
      if (gap_to != 0) {
        if (!fill_) {
          // The memory store hands events on in order: it cannot skip.
          observer_.SessionAnomaly("hub_gap",
                                   absl::StrCat("session ", w.id, ": sequence ",
                                                item.event ? item.event->sequence : 0,
                                                " offered when ", w.next, " was next"));
        } else {
          const std::string nonce = w.nonce;
          const uint64_t from = w.next;
          w.mu.Unlock();
          absl::StatusOr<std::vector<EventPtr>> logged = fill_(w.id, nonce, from, gap_to);
          w.mu.Lock();
          // Redis cannot answer now: hand on nothing; the catch-up after
          // the reconnect resumes from `next`.
          if (!logged.ok()) continue;
          events = *std::move(logged);
        }
      }
      if (item.event) events.push_back(std::move(item.event));
      for (const EventPtr& event : events) {
        if (!w.open) break;
        if (event->sequence < w.next) continue;
        w.next = event->sequence + 1;
        if (std::holds_alternative<SessionEnded>(event->event)) {
          w.open = false;
          w.done = true;
        }
        w.mu.Unlock();
        w.subscriber->OnEvent(event);
        w.mu.Lock();
      }
    }
    if (!w.open) {
      w.inbox.clear();
      w.held.clear();
    }
    w.draining = false;
    w.drainer = std::thread::id();
  }
  const bool leave = w.done;
  w.mu.Unlock();
  if (leave) Remove(watch);
}

void SessionHub::Cancel(const std::shared_ptr<Watch>& watch) {
  {
    absl::MutexLock lock(&watch->mu);
    watch->open = false;
    watch->inbox.clear();
    watch->held.clear();
    // From inside OnEvent there is nothing to wait for.
    if (watch->draining && watch->drainer != std::this_thread::get_id()) {
      watch->mu.Await(absl::Condition(
          +[](bool* draining) { return !*draining; }, &watch->draining));
    }
  }
  Remove(watch);
}

void SessionHub::Remove(const std::shared_ptr<Watch>& watch) {
  bool last = false;
  {
    absl::MutexLock lock(&mu_);
    auto [first, end] = watches_.equal_range(watch->id);
    for (auto it = first; it != end; ++it) {
      if (it->second == watch) {
        watches_.erase(it);
        last = !watches_.contains(watch->id);
        break;
      }
    }
  }
  if (last && last_gone_) last_gone_(watch->id);
}

}  // namespace docshare
