#include "service/sessions/memory_store.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <deque>
#include <set>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "service/auth/tokens.h"
#include "service/common/status_macros.h"
#include "service/sessions/errors.h"
#include "service/sessions/watcher.h"

namespace docshare {
namespace {

constexpr size_t kNonceBytes = 16;

std::string NewNonce() { return RandomToken(kNonceBytes); }

std::string Name(std::string_view id) { return std::string(id); }

}  // namespace

struct MemoryStore::Session {
  Session(SessionInfo started, SessionHub& watchers)
      : id(started.id), nonce(started.nonce), info(std::move(started)), hub(watchers) {}

  // Whether the id answers NOT_FOUND by now (ended long enough ago).
  bool Forgotten(absl::Time now) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return info.state != SessionState::kActive && now >= forget_at;
  }

  // NOT_FOUND / FAILED_PRECONDITION unless the session takes new work.
  absl::Status Usable(absl::Time now) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    if (Forgotten(now)) return SessionNotFound(info.id);
    if (info.state != SessionState::kActive) return SessionNotActive(info.id, info.state);
    return absl::OkStatus();
  }

  // Hands undelivered events to the hub in sequence order, with no lock
  // of the session held while watchers run. One thread delivers at a time;
  // another that appends meanwhile leaves its event to that thread, so an
  // uploader never waits for a fan-out in progress.
  void Deliver() ABSL_LOCKS_EXCLUDED(mu) {
    mu.Lock();
    if (delivering) return mu.Unlock();
    delivering = true;
    while (!undelivered.empty()) {
      EventPtr event = std::move(undelivered.front());
      undelivered.pop_front();
      mu.Unlock();
      hub.Publish(id, nonce, event);
      mu.Lock();
    }
    delivering = false;
    mu.Unlock();
  }

  // Both with mu held; return true when they appended an event that still
  // has to be delivered.
  bool ExpireIfDue(MemoryStore& bp, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  uint32_t End(MemoryStore& bp, std::string_view reason, SessionState state,
               absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Calls Deliver when it goes out of scope; declared before the lock so it
  // runs after the lock is released.
  class DeliverOnExit {
   public:
    explicit DeliverOnExit(Session& s) : s_(s) {}
    ~DeliverOnExit() { s_.Deliver(); }

   private:
    Session& s_;
  };

  const std::string id, nonce;  // of this start
  absl::Mutex mu;
  SessionInfo info ABSL_GUARDED_BY(mu);
  SessionHub& hub;
  // While active: sequences 1..last_sequence.
  std::vector<EventPtr> log ABSL_GUARDED_BY(mu);
  uint64_t last_sequence ABSL_GUARDED_BY(mu) = 0;
  uint32_t documents ABSL_GUARDED_BY(mu) = 0;
  uint64_t bytes ABSL_GUARDED_BY(mu) = 0;  // preview bytes held by the log
  absl::Time forget_at ABSL_GUARDED_BY(mu) = absl::InfiniteFuture();
  // Each DocumentShared of the log by document id.
  struct Shared {
    uint64_t sequence = 0;
    Role shared_by = Role::kUnknown;
    bool withdrawn = false;
  };
  std::map<std::string, Shared, std::less<>> shared ABSL_GUARDED_BY(mu);
  std::set<std::tuple<std::string, Role, Acknowledgement>> acknowledged
      ABSL_GUARDED_BY(mu);
  std::deque<EventPtr> undelivered ABSL_GUARDED_BY(mu);
  bool delivering ABSL_GUARDED_BY(mu) = false;
};

MemoryStore::MemoryStore(const Clock& clock, SessionCaps caps, Observer& observer)
    : clock_(clock),
      caps_(caps),
      observer_(observer),
      hub_(std::make_shared<SessionHub>(nullptr, nullptr, observer)) {
  hub_->SetFeed(true);  // appends feed the hub directly: it is never down
}

MemoryStore::~MemoryStore() = default;

absl::StatusOr<std::shared_ptr<MemoryStore::Session>> MemoryStore::Lookup(
    std::string_view id) const {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return SessionNotFound(id);
  return it->second;
}

bool MemoryStore::Session::ExpireIfDue(MemoryStore& bp, absl::Time now) {
  if (info.state != SessionState::kActive || info.expires_at > now) return false;
  End(bp, "expired", SessionState::kExpired, now);
  bp.observer_.SessionExpired(info.id);
  return true;
}

uint32_t MemoryStore::Session::End(MemoryStore& bp, std::string_view reason,
                                   SessionState state, absl::Time now) {
  auto ended = std::make_shared<SessionEvent>();
  ended->sequence = ++last_sequence;
  ended->time = now;
  ended->event = SessionEnded{Name(reason)};
  undelivered.push_back(std::move(ended));
  // The previews go now; watchers still holding an event keep its bytes
  // alive only until they have written it.
  log.clear();
  log.shrink_to_fit();
  shared.clear();
  acknowledged.clear();
  bp.ReleaseBytes(bytes);
  bytes = 0;
  info.state = state;
  forget_at = now + info.ttl;
  bp.ChangeActive(-1);
  return documents;
}

absl::Status MemoryStore::ReserveBytes(uint64_t bytes) {
  absl::MutexLock lock(&stats_mu_);
  if (bytes >
      caps_.max_retained_bytes - std::min(retained_bytes_, caps_.max_retained_bytes)) {
    return RetainedBytesCap(retained_bytes_, bytes, caps_.max_retained_bytes);
  }
  retained_bytes_ += bytes;
  observer_.RetainedPreviewBytes(static_cast<int64_t>(retained_bytes_));
  return absl::OkStatus();
}

void MemoryStore::ReleaseBytes(uint64_t bytes) {
  if (bytes == 0) return;
  absl::MutexLock lock(&stats_mu_);
  if (bytes > retained_bytes_) {
    observer_.SessionAnomaly("accounting_underflow",
                             absl::StrCat("releasing ", bytes, " preview bytes of ",
                                          retained_bytes_, " held"));
  }
  retained_bytes_ -= std::min(bytes, retained_bytes_);
  observer_.RetainedPreviewBytes(static_cast<int64_t>(retained_bytes_));
}

void MemoryStore::ChangeActive(int64_t delta) {
  absl::MutexLock lock(&stats_mu_);
  active_sessions_ += delta;
  observer_.SessionsActive(active_sessions_);
}

uint64_t MemoryStore::retained_bytes() const {
  absl::MutexLock lock(&stats_mu_);
  return retained_bytes_;
}

absl::StatusOr<SessionInfo> MemoryStore::Start(const SessionSettings& settings) {
  if (settings.ttl <= absl::ZeroDuration()) {
    return NonPositiveTtl();
  }
  const absl::Time now = clock_.Now();
  std::shared_ptr<Session> previous;  // delivered its "expired" after the locks
  SessionInfo info;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(settings.id);
    if (it != sessions_.end()) {
      Session& s = *it->second;
      absl::MutexLock session_lock(&s.mu);
      if (s.ExpireIfDue(*this, now)) previous = it->second;
      if (s.info.state == SessionState::kActive) {
        if (s.info.ttl == settings.ttl &&
            s.info.consumer_may_share == settings.consumer_may_share) {
          return s.info;
        }
        return SessionSettingsDiffer(settings.id, s.info.ttl, s.info.consumer_may_share);
      }
    }
    info = SessionInfo{.id = settings.id,
                       .nonce = NewNonce(),
                       .ttl = settings.ttl,
                       .consumer_may_share = settings.consumer_may_share,
                       .expires_at = now + settings.ttl,
                       .state = SessionState::kActive};
    sessions_.insert_or_assign(settings.id, std::make_shared<Session>(info, *hub_));
    ChangeActive(+1);
  }
  if (previous) previous->Deliver();
  return info;
}

absl::StatusOr<SessionInfo> MemoryStore::Get(std::string_view id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Session> s, Lookup(id));
  const absl::Time now = clock_.Now();
  Session::DeliverOnExit deliver(*s);
  absl::MutexLock lock(&s->mu);
  s->ExpireIfDue(*this, now);
  if (s->Forgotten(now)) return SessionNotFound(id);
  return s->info;
}

absl::StatusOr<uint32_t> MemoryStore::End(std::string_view id, std::string_view reason) {
  ASSIGN_OR_RETURN(std::shared_ptr<Session> s, Lookup(id));
  const absl::Time now = clock_.Now();
  Session::DeliverOnExit deliver(*s);
  absl::MutexLock lock(&s->mu);
  s->ExpireIfDue(*this, now);
  RETURN_IF_ERROR(s->Usable(now));
  return s->End(*this, reason, SessionState::kEnded, now);
}

absl::StatusOr<EventPtr> MemoryStore::Append(std::string_view id, std::string_view nonce,
                                             std::shared_ptr<const Document> document) {
  if (document == nullptr) return NoDocumentToAppend();
  const uint64_t bytes = document->PreviewBytes();
  ASSIGN_OR_RETURN(std::shared_ptr<Session> s, Lookup(id));
  const absl::Time now = clock_.Now();
  Session::DeliverOnExit deliver(*s);
  absl::MutexLock lock(&s->mu);
  s->ExpireIfDue(*this, now);
  // Compare-and-append: the upload was authorized for one start of the id.
  if (s->info.nonce != nonce) return SessionStartedAgain(id);
  RETURN_IF_ERROR(s->Usable(now));
  if (s->documents >= static_cast<uint64_t>(std::max(caps_.max_documents, 0))) {
    return TooManyDocuments(id, s->documents);
  }
  if (bytes > caps_.max_session_bytes - std::min(s->bytes, caps_.max_session_bytes)) {
    return SessionBytesCap(id, s->bytes, bytes, caps_.max_session_bytes);
  }
  RETURN_IF_ERROR(ReserveBytes(bytes));
  auto event = std::make_shared<SessionEvent>();
  event->sequence = ++s->last_sequence;
  event->time = now;
  event->event = DocumentShared{std::move(document)};
  s->log.push_back(event);
  s->undelivered.push_back(event);
  s->shared[std::get<DocumentShared>(event->event).document->document_id] = {
      event->sequence, std::get<DocumentShared>(event->event).document->shared_by};
  s->documents += 1;
  s->bytes += bytes;
  return EventPtr(std::move(event));
}

absl::StatusOr<SessionStore::Subscribed> MemoryStore::Subscribe(std::string_view id,
                                                                uint64_t after_sequence,
                                                                Subscriber* subscriber) {
  if (subscriber == nullptr) return NoSubscriber();
  ASSIGN_OR_RETURN(std::shared_ptr<Session> s, Lookup(id));
  const absl::Time now = clock_.Now();
  Session::DeliverOnExit deliver(*s);
  absl::MutexLock lock(&s->mu);
  s->ExpireIfDue(*this, now);
  RETURN_IF_ERROR(s->Usable(now));
  if (after_sequence > s->last_sequence) {
    return AfterSequenceBeyondEnd(id, after_sequence, s->last_sequence);
  }
  Subscribed subscribed;
  auto first = std::upper_bound(
      s->log.begin(), s->log.end(), after_sequence,
      [](uint64_t seq, const EventPtr& event) { return seq < event->sequence; });
  subscribed.replay.assign(first, s->log.end());
  // Registered under the same lock as the replay snapshot: every later
  // event goes live, every earlier one is in the replay.
  subscribed.live = hub_->Live(
      hub_->RegisterReady(s->info.id, subscriber, s->info.nonce, s->last_sequence));
  return subscribed;
}

namespace {

// The DocumentShared as a replay shows it after a withdrawal: the document
// without its previews or its filename.
EventPtr Purged(const SessionEvent& shared_event, std::vector<std::string>& sha256) {
  const Document& original = *std::get<DocumentShared>(shared_event.event).document;
  for (const Preview& p : original.previews) sha256.push_back(p.sha256);
  return WithoutPreviews(shared_event);
}

}  // namespace

absl::StatusOr<EventPtr> MemoryStore::Withdraw(std::string_view id,
                                               std::string_view document_id, Role by) {
  ASSIGN_OR_RETURN(std::shared_ptr<Session> s, Lookup(id));
  const absl::Time now = clock_.Now();
  std::vector<std::string> sha256;
  EventPtr withdrawn;
  {
    Session::DeliverOnExit deliver(*s);
    absl::MutexLock lock(&s->mu);
    s->ExpireIfDue(*this, now);
    RETURN_IF_ERROR(s->Usable(now));
    auto it = s->shared.find(document_id);
    if (it == s->shared.end()) return DocumentNotFound(id, document_id);
    Session::Shared& doc = it->second;
    if (by != Role::kAdmin && by != doc.shared_by) {
      return WithdrawNotAllowed(document_id, by, doc.shared_by);
    }
    if (doc.withdrawn) return EventPtr();
    EventPtr& logged = s->log[doc.sequence - 1];
    const uint64_t bytes =
        std::get<DocumentShared>(logged->event).document->PreviewBytes();
    logged = Purged(*logged, sha256);
    ReleaseBytes(bytes);
    s->bytes -= std::min(bytes, s->bytes);
    doc.withdrawn = true;
    auto event = std::make_shared<SessionEvent>();
    event->sequence = ++s->last_sequence;
    event->time = now;
    event->event = DocumentWithdrawn{std::string(document_id), by};
    s->log.push_back(event);
    s->undelivered.push_back(event);
    withdrawn = std::move(event);
  }
  NotifyPurge(sha256);
  return withdrawn;
}

absl::StatusOr<EventPtr> MemoryStore::Acknowledge(std::string_view id,
                                                  std::string_view document_id, Role by,
                                                  Acknowledgement acknowledgement) {
  ASSIGN_OR_RETURN(std::shared_ptr<Session> s, Lookup(id));
  const absl::Time now = clock_.Now();
  Session::DeliverOnExit deliver(*s);
  absl::MutexLock lock(&s->mu);
  s->ExpireIfDue(*this, now);
  RETURN_IF_ERROR(s->Usable(now));
  auto it = s->shared.find(document_id);
  if (it == s->shared.end()) return DocumentNotFound(id, document_id);
  if (it->second.withdrawn) return DocumentIsWithdrawn(document_id);
  if (!s->acknowledged.emplace(std::string(document_id), by, acknowledgement).second) {
    return EventPtr();
  }
  auto event = std::make_shared<SessionEvent>();
  event->sequence = ++s->last_sequence;
  event->time = now;
  event->event = DocumentAcknowledged{std::string(document_id), by, acknowledgement};
  s->log.push_back(event);
  s->undelivered.push_back(event);
  return EventPtr(std::move(event));
}

absl::StatusOr<SessionSnapshot> MemoryStore::Snapshot(std::string_view id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Session> s, Lookup(id));
  const absl::Time now = clock_.Now();
  Session::DeliverOnExit deliver(*s);
  absl::MutexLock lock(&s->mu);
  s->ExpireIfDue(*this, now);
  if (s->Forgotten(now)) return SessionNotFound(id);
  SessionSnapshot snapshot;
  snapshot.info = s->info;
  snapshot.last_sequence = s->last_sequence;
  for (const EventPtr& event : s->log) {
    const auto* shared = std::get_if<DocumentShared>(&event->event);
    if (shared == nullptr) continue;
    auto it = s->shared.find(shared->document->document_id);
    if (it != s->shared.end() && !it->second.withdrawn) {
      snapshot.documents.push_back({event->sequence, shared->document});
    }
  }
  snapshot.watchers = hub_->CountOf(id);
  return snapshot;
}

absl::StatusOr<std::shared_ptr<const Document>> MemoryStore::ReadDocument(
    std::string_view id, std::string_view nonce, uint64_t sequence) {
  ASSIGN_OR_RETURN(std::shared_ptr<Session> s, Lookup(id));
  const absl::Time now = clock_.Now();
  Session::DeliverOnExit deliver(*s);
  absl::MutexLock lock(&s->mu);
  s->ExpireIfDue(*this, now);
  RETURN_IF_ERROR(s->Usable(now));
  if (s->info.nonce != nonce) return NoSuchDocument(id, sequence);
  auto it = std::lower_bound(
      s->log.begin(), s->log.end(), sequence,
      [](const EventPtr& event, uint64_t seq) { return event->sequence < seq; });
  if (it == s->log.end() || (*it)->sequence != sequence) {
    return NoSuchDocument(id, sequence);
  }
  const auto* shared = std::get_if<DocumentShared>(&(*it)->event);
  if (shared == nullptr) return NoSuchDocument(id, sequence);
  return shared->document;
}

void MemoryStore::ExpireDue() {
  const absl::Time now = clock_.Now();
  std::vector<std::shared_ptr<Session>> expired;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      const std::shared_ptr<Session> s = it->second;  // outlives its lock
      absl::MutexLock session_lock(&s->mu);
      if (s->ExpireIfDue(*this, now)) expired.push_back(s);
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
