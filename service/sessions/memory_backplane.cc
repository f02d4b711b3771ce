#include "service/sessions/memory_backplane.h"


#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <deque>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "service/auth/tokens.h"
#include "service/common/status_macros.h"

namespace docshare {
namespace {

constexpr size_t kNonceBytes = 16;

std::string NewNonce() { return RandomToken(kNonceBytes); }

std::string Name(std::string_view id) { return std::string(id); }

}  // namespace

// One subscriber's registration. The session holds it until the
// subscription is cancelled; the subscription holds it for its lifetime, so
// neither outlives the other's use of it.
struct MemoryBackplane::Entry {
  Entry(Subscriber* s, uint64_t first) : subscriber(s), first_live(first) {}

  // Calls OnEvent unless the subscription was destroyed.
  void Offer(const EventPtr& event) {
    std::lock_guard lock(mu);
    if (active) subscriber->OnEvent(event);
  }

  Subscriber* const subscriber;
  // Events before this sequence were in the subscriber's replay.
  const uint64_t first_live;
  // Held while OnEvent runs, so cancelling waits for a delivery in progress.
  // Recursive: a subscriber whose wake drops the subscription on the same
  // thread must not deadlock.
  std::recursive_mutex mu;
  bool active = true;  // guarded by mu
  // Set before taking mu: lets the session prune without touching mu.
  std::atomic<bool> cancelled{false};
};

class MemoryBackplane::LiveSubscription final : public Subscription {
 public:
  explicit LiveSubscription(std::shared_ptr<Entry> entry) : entry_(std::move(entry)) {}
  ~LiveSubscription() override {
    entry_->cancelled.store(true);
    std::lock_guard lock(entry_->mu);
    entry_->active = false;
  }

 private:
  std::shared_ptr<Entry> entry_;
};

struct MemoryBackplane::Session {
  // Whether the id answers NOT_FOUND by now (ended long enough ago).
  bool Forgotten(absl::Time now) const {
    return info.state != SessionState::kActive && now >= forget_at;
  }

  // NOT_FOUND / FAILED_PRECONDITION unless the session takes new work.
  absl::Status Usable(absl::Time now) const {
    if (Forgotten(now))
      return absl::NotFoundError(absl::StrCat("session ", info.id, " not found"));
    switch (info.state) {
      case SessionState::kActive:
        return absl::OkStatus();
      case SessionState::kEnded:
        return absl::FailedPreconditionError(
            absl::StrCat("session ", info.id, " has ended"));
      case SessionState::kExpired:
        return absl::FailedPreconditionError(
            absl::StrCat("session ", info.id, " has expired"));
    }
    return absl::InternalError("unknown session state");
  }

  // Hands undelivered events to subscribers in sequence order, with no lock
  // of the session held while a subscriber runs. One thread delivers at a
  // time; another that appends meanwhile leaves its event to that thread,
  // so an uploader never waits for a fan-out in progress.
  void Deliver() {
    std::unique_lock lock(mu);
    if (delivering) return;
    delivering = true;
    while (!undelivered.empty()) {
      EventPtr event = std::move(undelivered.front());
      undelivered.pop_front();
      std::erase_if(subscribers, [](const auto& e) { return e->cancelled.load(); });
      std::vector<std::shared_ptr<Entry>> targets;
      for (const auto& e : subscribers) {
        if (event->sequence >= e->first_live) targets.push_back(e);
      }
      if (std::holds_alternative<SessionEnded>(event->event)) subscribers.clear();
      lock.unlock();
      for (const auto& e : targets) e->Offer(event);
      lock.lock();
    }
    delivering = false;
  }

  // Calls Deliver when it goes out of scope; declared before the lock so it
  // runs after the lock is released.
  class DeliverOnExit {
   public:
    explicit DeliverOnExit(Session& s) : s_(s) {}
    ~DeliverOnExit() { s_.Deliver(); }

   private:
    Session& s_;
  };

  std::mutex mu;
  SessionInfo info;
  std::vector<EventPtr> log;  // while active: sequences 1..last_sequence
  uint64_t last_sequence = 0;
  uint32_t documents = 0;
  uint64_t bytes = 0;  // preview bytes held by the log
  absl::Time forget_at = absl::InfiniteFuture();
  std::vector<std::shared_ptr<Entry>> subscribers;
  std::deque<EventPtr> undelivered;
  bool delivering = false;
};

MemoryBackplane::MemoryBackplane(const Clock& clock, SessionCaps caps, Observer& observer)
    : clock_(clock), caps_(caps), observer_(observer) {}

MemoryBackplane::~MemoryBackplane() = default;

absl::StatusOr<std::shared_ptr<MemoryBackplane::Session>> MemoryBackplane::Lookup(
    std::string_view id) const {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    return absl::NotFoundError(absl::StrCat("session ", Name(id), " not found"));
  }
  return it->second;
}

bool MemoryBackplane::ExpireIfDueLocked(Session& session, absl::Time now) {
  if (session.info.state != SessionState::kActive || session.info.expires_at > now) {
    return false;
  }
  EndLocked(session, "expired", SessionState::kExpired, now);
  observer_.SessionExpired(session.info.id);
  return true;
}

uint32_t MemoryBackplane::EndLocked(Session& session, std::string_view reason,
                                    SessionState state, absl::Time now) {
  auto ended = std::make_shared<SessionEvent>();
  ended->sequence = ++session.last_sequence;
  ended->time = now;
  ended->event = SessionEnded{Name(reason)};
  session.undelivered.push_back(std::move(ended));
  // The previews go now; watchers still holding an event keep its bytes
  // alive only until they have written it.
  session.log.clear();
  session.log.shrink_to_fit();
  ReleaseBytes(session.bytes);
  session.bytes = 0;
  session.info.state = state;
  session.forget_at = now + session.info.ttl;
  ChangeActive(-1);
  return session.documents;
}

absl::Status MemoryBackplane::ReserveBytes(uint64_t bytes) {
  std::lock_guard lock(stats_mu_);
  if (bytes >
      caps_.max_retained_bytes - std::min(retained_bytes_, caps_.max_retained_bytes)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the service already holds ", retained_bytes_, " preview bytes; ",
                     bytes, " more would pass its cap of ", caps_.max_retained_bytes));
  }
  retained_bytes_ += bytes;
  observer_.RetainedPreviewBytes(static_cast<int64_t>(retained_bytes_));
  return absl::OkStatus();
}

void MemoryBackplane::ReleaseBytes(uint64_t bytes) {
  if (bytes == 0) return;
  std::lock_guard lock(stats_mu_);
  retained_bytes_ -= std::min(bytes, retained_bytes_);
  observer_.RetainedPreviewBytes(static_cast<int64_t>(retained_bytes_));
}

void MemoryBackplane::ChangeActive(int64_t delta) {
  std::lock_guard lock(stats_mu_);
  active_sessions_ += delta;
  observer_.SessionsActive(active_sessions_);
}

uint64_t MemoryBackplane::retained_bytes() const {
  std::lock_guard lock(stats_mu_);
  return retained_bytes_;
}

absl::StatusOr<SessionInfo> MemoryBackplane::Start(const SessionSettings& settings) {
  if (settings.ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("session ttl must be positive");
  }
  const absl::Time now = clock_.Now();
  std::shared_ptr<Session> previous;  // delivered its "expired" after the locks
  SessionInfo info;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(settings.id);
    if (it != sessions_.end()) {
      Session& s = *it->second;
      std::lock_guard session_lock(s.mu);
      if (ExpireIfDueLocked(s, now)) previous = it->second;
      if (s.info.state == SessionState::kActive) {
        if (s.info.ttl == settings.ttl &&
            s.info.consumer_may_share == settings.consumer_may_share) {
          return s.info;
        }
        return absl::AlreadyExistsError(
            absl::StrCat("session ", settings.id, " is active with other settings (ttl ",
                         absl::FormatDuration(s.info.ttl), ", consumer_may_share ",
                         s.info.consumer_may_share ? "true" : "false", ")"));
      }
    }
    auto fresh = std::make_shared<Session>();
    fresh->info = SessionInfo{.id = settings.id,
                              .nonce = NewNonce(),
                              .ttl = settings.ttl,
                              .consumer_may_share = settings.consumer_may_share,
                              .expires_at = now + settings.ttl,
                              .state = SessionState::kActive};
    info = fresh->info;
    sessions_.insert_or_assign(settings.id, std::move(fresh));
    ChangeActive(+1);
  }
  if (previous) previous->Deliver();
  return info;
}

absl::StatusOr<SessionInfo> MemoryBackplane::Get(std::string_view id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Session> s, Lookup(id));
  const absl::Time now = clock_.Now();
  Session::DeliverOnExit deliver(*s);
  std::lock_guard lock(s->mu);
  ExpireIfDueLocked(*s, now);
  if (s->Forgotten(now)) {
    return absl::NotFoundError(absl::StrCat("session ", Name(id), " not found"));
  }
  return s->info;
}

absl::StatusOr<uint32_t> MemoryBackplane::End(std::string_view id,
                                              std::string_view reason) {
  ASSIGN_OR_RETURN(std::shared_ptr<Session> s, Lookup(id));
  const absl::Time now = clock_.Now();
  Session::DeliverOnExit deliver(*s);
  std::lock_guard lock(s->mu);
  ExpireIfDueLocked(*s, now);
  RETURN_IF_ERROR(s->Usable(now));
  return EndLocked(*s, reason, SessionState::kEnded, now);
}

absl::StatusOr<EventPtr> MemoryBackplane::Append(
    std::string_view id, std::shared_ptr<const Document> document) {
  if (document == nullptr) return absl::InvalidArgumentError("no document to append");
  const uint64_t bytes = document->PreviewBytes();
  ASSIGN_OR_RETURN(std::shared_ptr<Session> s, Lookup(id));
  const absl::Time now = clock_.Now();
  Session::DeliverOnExit deliver(*s);
  std::lock_guard lock(s->mu);
  ExpireIfDueLocked(*s, now);
  RETURN_IF_ERROR(s->Usable(now));
  if (s->documents >= static_cast<uint64_t>(std::max(caps_.max_documents, 0))) {
    return absl::FailedPreconditionError(absl::StrCat("session ", Name(id),
                                                      " already holds ", s->documents,
                                                      " documents, the most allowed"));
  }
  if (bytes > caps_.max_session_bytes - std::min(s->bytes, caps_.max_session_bytes)) {
    return absl::FailedPreconditionError(
        absl::StrCat("session ", Name(id), " holds ", s->bytes, " preview bytes; ", bytes,
                     " more would pass its cap of ", caps_.max_session_bytes));
  }
  RETURN_IF_ERROR(ReserveBytes(bytes));
  auto event = std::make_shared<SessionEvent>();
  event->sequence = ++s->last_sequence;
  event->time = now;
  event->event = DocumentShared{std::move(document)};
  s->log.push_back(event);
  s->undelivered.push_back(event);
  s->documents += 1;
  s->bytes += bytes;
  return EventPtr(std::move(event));
}

absl::StatusOr<Backplane::Subscribed> MemoryBackplane::Subscribe(std::string_view id,
                                                                 uint64_t after_sequence,
                                                                 Subscriber* subscriber) {
  if (subscriber == nullptr) return absl::InvalidArgumentError("no subscriber");
  ASSIGN_OR_RETURN(std::shared_ptr<Session> s, Lookup(id));
  const absl::Time now = clock_.Now();
  Session::DeliverOnExit deliver(*s);
  std::lock_guard lock(s->mu);
  ExpireIfDueLocked(*s, now);
  RETURN_IF_ERROR(s->Usable(now));
  if (after_sequence > s->last_sequence) {
    return absl::OutOfRangeError(
        absl::StrCat("after_sequence ", after_sequence, " is beyond the last sequence ",
                     s->last_sequence, " of session ", Name(id)));
  }
  Subscribed subscribed;
  auto first = std::upper_bound(
      s->log.begin(), s->log.end(), after_sequence,
      [](uint64_t seq, const EventPtr& event) { return seq < event->sequence; });
  subscribed.replay.assign(first, s->log.end());
  // Registered under the same lock as the replay snapshot: every later
  // event goes live, every earlier one is in the replay.
  auto entry = std::make_shared<Entry>(subscriber, s->last_sequence + 1);
  std::erase_if(s->subscribers, [](const auto& e) { return e->cancelled.load(); });
  s->subscribers.push_back(entry);
  subscribed.live = std::make_unique<LiveSubscription>(std::move(entry));
  return subscribed;
}

void MemoryBackplane::ExpireDue() {
  const absl::Time now = clock_.Now();
  std::vector<std::shared_ptr<Session>> expired;
  {
    std::lock_guard lock(mu_);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      const std::shared_ptr<Session> s = it->second;  // outlives its lock
      std::lock_guard session_lock(s->mu);
      if (ExpireIfDueLocked(*s, now)) expired.push_back(s);
      if (s->Forgotten(now)) {
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& s : expired) s->Deliver();
}

}  // namespace docshare
