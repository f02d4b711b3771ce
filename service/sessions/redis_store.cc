#include "service/sessions/redis_store.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <utility>
#include <variant>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "service/auth/tokens.h"
#include "service/common/status_macros.h"
#include "service/sessions/errors.h"
#include "service/sessions/redis_names.h"
#include "service/sessions/replay_cache.h"
#include "service/sessions/watcher.h"

namespace docshare {
namespace {

// Log entries per XRANGE of a replay: an entry holds a document's previews
// (up to a few MB), so a page stays far inside the command timeout.
constexpr size_t kReplayPage = 8;
// A replica's watcher report older than this no longer counts (DESIGN).
constexpr int64_t kWatcherReportMaxAgeMs = 10000;

constexpr size_t kNonceBytes = 16;

std::string NewNonce() { return RandomToken(kNonceBytes); }

// A session as get.lua and snapshot.lua reply: nonce ttl-ms cms expires-ms
// state (at least five values).
SessionInfo InfoOf(std::string_view id, const std::vector<std::string>& v) {
  return SessionInfo{.id = std::string(id),
                     .nonce = v[0],
                     .ttl = absl::Milliseconds(ToI64(v[1])),
                     .consumer_may_share = v[2] == "1",
                     .expires_at = absl::FromUnixMillis(ToI64(v[3])),
                     .state = StateOf(v[4])};
}

// The DocumentShared a replay shows once the document is withdrawn: no
// previews, no filename (kept in Redis until then, so one script withdraws).
std::string EncodePurged(absl::Time time, const Document& document) {
  auto purged = std::make_shared<Document>(document);
  purged->previews.clear();
  purged->filename.clear();
  return EncodeBody(time, DocumentShared{std::move(purged)});
}

std::string PreviewShas(const Document& document) {
  std::string out;
  for (const Preview& p : document.previews) {
    if (p.sha256.empty()) continue;
    if (!out.empty()) out += ' ';
    out += p.sha256;
  }
  return out;
}

std::string RoleNumber(Role role) { return std::to_string(static_cast<int>(role)); }

// A replay in which a document is withdrawn shows its DocumentShared without
// previews or filename, as the log does since then: a page read before the
// withdrawal (kept by the replay cache until the purge message arrives)
// never hands a withdrawn document's previews out again.
std::vector<EventPtr> ScrubWithdrawn(std::vector<EventPtr> replay) {
  absl::flat_hash_set<std::string> withdrawn;
  for (const EventPtr& e : replay) {
    if (const auto* w = std::get_if<DocumentWithdrawn>(&e->event)) {
      withdrawn.insert(w->document_id);
    }
  }
  if (withdrawn.empty()) return replay;
  for (EventPtr& e : replay) {
    const auto* shared = std::get_if<DocumentShared>(&e->event);
    if (shared != nullptr && shared->document != nullptr &&
        withdrawn.contains(shared->document->document_id)) {
      e = WithoutPreviews(*e);
    }
  }
  return replay;
}

}  // namespace

RedisStore::RedisStore(RedisAddress address, const Clock& clock, SessionCaps caps,
                       Observer& observer, RedisCallThreads call_threads)
    : address_(std::move(address)),
      clock_(clock),
      caps_(caps),
      observer_(observer),
      replay_(std::make_shared<ReplayCache>(caps.replay_cache_bytes, kReplayPage)),
      // Its last watcher here gone: nobody here replays the session soon.
      hub_(std::make_shared<SessionHub>(
          CachedFetchFunction(),
          [replay = replay_](const std::string& id) { replay->Forget(id); }, observer)),
      replica_(RandomToken(9)),
      pool_(address_) {
  if (pipe2(wake_, O_CLOEXEC) != 0) std::abort();  // out of descriptors at start-up
  pubsub_ = std::thread([this] { PubSubLoop(); });
  calls_ = std::make_unique<StoreThreads>(call_threads.threads, call_threads.queue);
}

RedisStore::~RedisStore() {
  calls_->Stop();
  {
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
  }
  const char byte = 0;
  (void)!write(wake_[1], &byte, 1);
  pubsub_.join();
  close(wake_[0]);
  close(wake_[1]);
}

bool RedisStore::Healthy() { return subscribed_.load(); }

bool RedisStore::Dispatch(std::function<void()> call) {
  return calls_->Submit(std::move(call));
}

void RedisStore::FinishCalls() { calls_->Stop(); }

bool RedisStore::WaitHealthy(absl::Duration timeout) {
  absl::MutexLock lock(&stop_mu_);
  stop_mu_.AwaitWithTimeout(
      absl::Condition(
          +[](RedisStore* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->stop_mu_) {
            return s->subscribed_.load() || s->stopping_;
          },
          this),
      timeout);
  return subscribed_.load();
}

absl::Status RedisStore::Unexpected(std::string_view what) {
  return UnexpectedReply(observer_, what);
}

absl::Status RedisStore::ExpectOk(const ScriptReply& reply, size_t values,
                                  std::string_view call) {
  if (reply.code == ScriptCode::kOk && reply.values.size() == values) {
    return absl::OkStatus();
  }
  return Unexpected(absl::StrCat("redis: bad ", std::string(call), " reply"));
}

absl::StatusOr<ScriptReply> RedisStore::Script(RedisScript script,
                                               std::vector<std::string> args) {
  return RunScript(pool_, script, std::move(args), observer_);
}

absl::StatusOr<SessionInfo> RedisStore::Start(const SessionSettings& settings) {
  if (settings.ttl <= absl::ZeroDuration()) {
    return NonPositiveTtl();
  }
  const absl::Time now = clock_.Now();
  const int64_t ttl_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(settings.ttl));
  ASSIGN_OR_RETURN(ScriptReply r,
                   Script(RedisScript::kStart,
                          {settings.id, absl::StrCat(absl::ToUnixMillis(now)),
                           EncodeBody(now, SessionEnded{"expired"}), absl::StrCat(ttl_ms),
                           settings.consumer_may_share ? "1" : "0", NewNonce()}));
  if (r.code == ScriptCode::kExists) {
    return SessionSettingsDiffer(settings.id, absl::Milliseconds(ToI64(r.values[0])),
                                 r.values[1] == "1");
  }
  RETURN_IF_ERROR(ExpectOk(r, 3, "Start"));
  if (r.values[2] != "-1") observer_.SessionsActive(ToI64(r.values[2]));
  return SessionInfo{.id = settings.id,
                     .nonce = r.values[0],
                     .ttl = settings.ttl,
                     .consumer_may_share = settings.consumer_may_share,
                     .expires_at = absl::FromUnixMillis(ToI64(r.values[1])),
                     .state = SessionState::kActive};
}

absl::StatusOr<SessionInfo> RedisStore::Get(std::string_view id) {
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(
      ScriptReply r,
      Script(RedisScript::kGet, {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
                                 EncodeBody(now, SessionEnded{"expired"})}));
  RETURN_IF_ERROR(SessionErrorOf(r, id));
  RETURN_IF_ERROR(ExpectOk(r, 5, "Get"));
  return InfoOf(id, r.values);
}

absl::StatusOr<uint32_t> RedisStore::End(std::string_view id, std::string_view reason) {
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(
      ScriptReply r,
      Script(RedisScript::kEnd, {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
                                 EncodeBody(now, SessionEnded{"expired"}),
                                 EncodeBody(now, SessionEnded{std::string(reason)})}));
  RETURN_IF_ERROR(SessionErrorOf(r, id));
  RETURN_IF_ERROR(ExpectOk(r, 3, "End"));
  replay_->Forget(id);
  observer_.RetainedPreviewBytes(ToI64(r.values[1]));
  observer_.SessionsActive(ToI64(r.values[2]));
  return static_cast<uint32_t>(ToU64(r.values[0]));
}

absl::StatusOr<EventPtr> RedisStore::Append(std::string_view id, std::string_view nonce,
                                            std::shared_ptr<const Document> document) {
  if (document == nullptr) return NoDocumentToAppend();
  const uint64_t bytes = document->PreviewBytes();
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(
      ScriptReply r,
      Script(RedisScript::kAppend,
             {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
              EncodeBody(now, SessionEnded{"expired"}),
              EncodeBody(now, DocumentShared{document}), absl::StrCat(bytes),
              absl::StrCat(std::max(caps_.max_documents, 0)),
              absl::StrCat(caps_.max_session_bytes),
              absl::StrCat(caps_.max_retained_bytes), std::string(nonce),
              document->document_id, absl::StrCat(static_cast<int>(document->shared_by)),
              EncodePurged(now, *document), PreviewShas(*document)}));
  RETURN_IF_ERROR(SessionErrorOf(r, id));
  switch (r.code) {
    case ScriptCode::kDocs:
      return TooManyDocuments(id, ToU64(r.values[0]));
    case ScriptCode::kSessionBytes:
      return SessionBytesCap(id, ToU64(r.values[0]), bytes, caps_.max_session_bytes);
    case ScriptCode::kRetained:
      return RetainedBytesCap(ToU64(r.values[0]), bytes, caps_.max_retained_bytes);
    default:
      break;
  }
  RETURN_IF_ERROR(ExpectOk(r, 2, "Append"));
  observer_.RetainedPreviewBytes(ToI64(r.values[1]));
  auto event = std::make_shared<SessionEvent>();
  event->sequence = ToU64(r.values[0]);
  event->time = now;
  event->event = DocumentShared{std::move(document)};
  return EventPtr(std::move(event));
}

absl::StatusOr<EventPtr> RedisStore::Withdraw(std::string_view id,
                                              std::string_view document_id, Role by) {
  const absl::Time now = clock_.Now();
  DocumentWithdrawn body{std::string(document_id), by};
  const std::string blob = EncodeBody(now, body);
  ASSIGN_OR_RETURN(
      ScriptReply r,
      Script(RedisScript::kWithdraw,
             {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
              EncodeBody(now, SessionEnded{"expired"}), std::string(document_id),
              RoleNumber(by), blob, RoleNumber(Role::kAdmin)}));
  RETURN_IF_ERROR(SessionErrorOf(r, id));
  switch (r.code) {
    case ScriptCode::kNoDoc:
      return DocumentNotFound(id, document_id);
    case ScriptCode::kDenied:
      return WithdrawNotAllowed(
          document_id, by, static_cast<Role>(std::min<uint64_t>(ToU64(r.values[0]), 3)));
    case ScriptCode::kAlready:
      return EventPtr();
    case ScriptCode::kLost:
      return Unexpected("redis: a shared document's log entry is missing");
    default:
      break;
  }
  RETURN_IF_ERROR(ExpectOk(r, 2, "Withdraw"));
  replay_->Forget(id);  // its DocumentShared was rewritten without previews
  observer_.RetainedPreviewBytes(ToI64(r.values[1]));
  auto event = std::make_shared<SessionEvent>();
  event->sequence = ToU64(r.values[0]);
  event->time = now;
  event->event = std::move(body);
  return EventPtr(std::move(event));
}

absl::StatusOr<EventPtr> RedisStore::Acknowledge(std::string_view id,
                                                 std::string_view document_id, Role by,
                                                 Acknowledgement acknowledgement) {
  const absl::Time now = clock_.Now();
  DocumentAcknowledged body{std::string(document_id), by, acknowledgement};
  ASSIGN_OR_RETURN(
      ScriptReply r,
      Script(RedisScript::kAcknowledge,
             {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
              EncodeBody(now, SessionEnded{"expired"}), std::string(document_id),
              RoleNumber(by), absl::StrCat(static_cast<int>(acknowledgement)),
              EncodeBody(now, body)}));
  RETURN_IF_ERROR(SessionErrorOf(r, id));
  switch (r.code) {
    case ScriptCode::kNoDoc:
      return DocumentNotFound(id, document_id);
    case ScriptCode::kWithdrawn:
      return DocumentIsWithdrawn(document_id);
    case ScriptCode::kAlready:
      return EventPtr();
    default:
      break;
  }
  RETURN_IF_ERROR(ExpectOk(r, 1, "Acknowledge"));
  auto event = std::make_shared<SessionEvent>();
  event->sequence = ToU64(r.values[0]);
  event->time = now;
  event->event = std::move(body);
  return EventPtr(std::move(event));
}

absl::StatusOr<SessionSnapshot> RedisStore::Snapshot(std::string_view id) {
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(ScriptReply r,
                   Script(RedisScript::kSnapshot,
                          {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
                           EncodeBody(now, SessionEnded{"expired"}),
                           absl::StrCat(kWatcherReportMaxAgeMs)}));
  RETURN_IF_ERROR(SessionErrorOf(r, id));
  // The session as Get's reply, its last sequence, the watcher count, then
  // pairs of (entry ID, DocumentShared).
  if (r.code != ScriptCode::kOk || r.values.size() < 7 || r.values.size() % 2 != 1) {
    return Unexpected("redis: bad Snapshot reply");
  }
  SessionSnapshot snapshot;
  snapshot.info = InfoOf(id, r.values);
  snapshot.last_sequence = ToU64(r.values[5]);
  snapshot.watchers = static_cast<uint32_t>(ToU64(r.values[6]));
  for (size_t i = 7; i + 1 < r.values.size(); i += 2) {
    const uint64_t sequence = SequenceOfId(r.values[i]);
    absl::StatusOr<EventPtr> event = DecodeWithSequence(r.values[i + 1], sequence);
    const DocumentShared* shared =
        event.ok() ? std::get_if<DocumentShared>(&(*event)->event) : nullptr;
    if (shared == nullptr || shared->document == nullptr) {
      observer_.SessionAnomaly("undecodable_entry",
                               absl::StrCat("session ", std::string(id), " entry ",
                                            sequence, " is not a DocumentShared"));
      return absl::InternalError("undecodable document in Redis");
    }
    snapshot.documents.push_back({sequence, shared->document});
  }
  return snapshot;
}

void RedisStore::ReportWatchers(absl::Time now) {
  const std::map<std::string, uint64_t> counts = hub_->Counts();
  absl::MutexLock lock(&report_mu_);
  std::vector<std::string> args = {"", absl::StrCat(absl::ToUnixMillis(now)), "",
                                   replica_};
  for (const std::string& id : reported_) {
    if (!counts.contains(id)) {
      args.push_back(id);
      args.push_back("0");
    }
  }
  std::vector<std::string> reported;
  for (const auto& [id, n] : counts) {
    args.push_back(id);
    args.push_back(absl::StrCat(n));
    reported.push_back(id);
  }
  if (args.size() == 4) return;
  absl::StatusOr<ScriptReply> r = Script(RedisScript::kWatchers, std::move(args));
  if (r.ok()) reported_ = std::move(reported);  // else: again on the next tick
}

absl::StatusOr<SessionStore::Subscribed> RedisStore::Subscribe(std::string_view id,
                                                               uint64_t after_sequence,
                                                               Subscriber* subscriber) {
  if (subscriber == nullptr) return NoSubscriber();
  // Registered (buffering) before the replay is read: every event published
  // after the read reaches the watch; those before it are in the replay.
  const std::string session(id);
  std::shared_ptr<SessionHub::Watch> watch = hub_->Register(session, subscriber);
  const absl::Time now = clock_.Now();
  absl::StatusOr<ScriptReply> r =
      Script(RedisScript::kSubscribe,
             {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
              EncodeBody(now, SessionEnded{"expired"}), absl::StrCat(after_sequence)});
  auto fail = [&](absl::Status s) {
    hub_->Drop(watch);
    return s;
  };
  if (!r.ok()) return fail(r.status());
  if (absl::Status s = SessionErrorOf(*r, id); !s.ok()) return fail(s);
  if (r->code == ScriptCode::kRange) {
    return fail(AfterSequenceBeyondEnd(id, after_sequence, ToU64(r->values[0])));
  }
  if (absl::Status s = ExpectOk(*r, 2, "Subscribe"); !s.ok()) return fail(s);
  const std::string& nonce = r->values[0];
  const uint64_t last = ToU64(r->values[1]);
  // Through the replay cache: pages read and decoded once for all of this
  // replica's watchers of the session.
  const Fetch fetch = CachedFetchFunction();
  Subscribed subscribed;
  if (after_sequence < last) {
    absl::StatusOr<std::vector<EventPtr>> replay =
        fetch(session, nonce, after_sequence + 1, last);
    if (!replay.ok()) return fail(replay.status());
    if (replay->size() != last - after_sequence) {
      // The log went between the script and the read: the session ended
      // (or expired) meanwhile. Anything else is a log with holes.
      absl::StatusOr<SessionInfo> now_info = Get(id);
      if (now_info.ok() && now_info->state != SessionState::kActive) {
        return fail(SessionNotActive(id, now_info->state));
      }
      if (!now_info.ok() && !absl::IsNotFound(now_info.status())) {
        return fail(now_info.status());
      }
      if (now_info.ok() && now_info->nonce != nonce) {
        return fail(SessionNotActive(id, SessionState::kEnded));
      }
      return fail(Unexpected(absl::StrCat(
          "redis: the log of session ", session, " has ", replay->size(), " of its ",
          last - after_sequence, " entries after ", after_sequence)));
    }
    subscribed.replay = ScrubWithdrawn(*std::move(replay));
  }
  // Held events go on from last+1; subscribed while Pub/Sub was down or
  // reconnecting, the watch also reads what was published meanwhile.
  hub_->Ready(watch, nonce, last);
  subscribed.live = hub_->Live(std::move(watch));
  return subscribed;
}

absl::StatusOr<std::shared_ptr<const Document>> RedisStore::ReadDocument(
    std::string_view id, std::string_view nonce, uint64_t sequence) {
  ASSIGN_OR_RETURN(SessionInfo info, Get(id));
  if (info.state != SessionState::kActive) return SessionNotActive(id, info.state);
  if (info.nonce != nonce) return NoSuchDocument(id, sequence);
  ASSIGN_OR_RETURN(std::vector<EventPtr> events,
                   FetchFunction()(info.id, info.nonce, sequence, sequence));
  if (events.size() != 1 || events[0]->sequence != sequence) {
    return NoSuchDocument(id, sequence);
  }
  const auto* shared = std::get_if<DocumentShared>(&events[0]->event);
  if (shared == nullptr) return NoSuchDocument(id, sequence);
  return shared->document;
}

RedisStore::Fetch RedisStore::CachedFetchFunction() {
  return [this, raw = FetchFunction()](const std::string& id, const std::string& nonce,
                                       uint64_t from, uint64_t to) {
    return replay_->Read(id, nonce, from, to,
                         [&](uint64_t a, uint64_t b) { return raw(id, nonce, a, b); });
  };
}

RedisStore::Fetch RedisStore::FetchFunction() {
  return [this](const std::string& id, const std::string& nonce, uint64_t from,
                uint64_t to) -> absl::StatusOr<std::vector<EventPtr>> {
    const std::string key = absl::StrCat("docshare:log:", id, ":", nonce);
    const std::string end = to == std::numeric_limits<uint64_t>::max()
                                ? std::string("+")
                                : absl::StrCat(to, "-1");
    // A page at a time: a replay of a session's previews (megabytes) is many
    // short reads, each well inside the command timeout, not one long one.
    std::vector<EventPtr> out;
    for (uint64_t next = from;;) {
      ASSIGN_OR_RETURN(ReplyPtr r,
                       pool_.Command({"XRANGE", key, absl::StrCat(next, "-0"), end,
                                      "COUNT", absl::StrCat(kReplayPage)}));
      if (r->type != REDIS_REPLY_ARRAY) return Unexpected("redis: bad XRANGE reply");
      for (size_t i = 0; i < r->elements; ++i) {
        const redisReply* e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[1]->type != REDIS_REPLY_ARRAY || e->element[1]->elements != 2) {
          return Unexpected("redis: bad XRANGE entry");
        }
        const redisReply* fields = e->element[1];
        absl::StatusOr<EventPtr> event = DecodeWithSequence(
            std::string_view(fields->element[1]->str, fields->element[1]->len),
            SequenceOfId(std::string_view(e->element[0]->str, e->element[0]->len)));
        if (!event.ok()) {
          observer_.SessionAnomaly("undecodable_entry",
                                   std::string(event.status().message()));
          return event.status();
        }
        out.push_back(*std::move(event));
      }
      if (r->elements < kReplayPage || out.empty()) return out;
      next = out.back()->sequence + 1;
      if (next > to || next == 0) return out;
    }
  };
}

void RedisStore::ExpireDue() {
  const absl::Time now = clock_.Now();
  ReportWatchers(now);
  absl::StatusOr<ScriptReply> r =
      Script(RedisScript::kExpire, {"", absl::StrCat(absl::ToUnixMillis(now)),
                                    EncodeBody(now, SessionEnded{"expired"})});
  if (!r.ok() && absl::IsUnavailable(r.status())) return;  // Redis down: the next tick
  if (!r.ok() || r->code != ScriptCode::kOk || r->values.size() != 2) {
    observer_.SessionAnomaly("expiry_failed", r.ok() ? std::string("unexpected reply")
                                                     : std::string(r.status().message()));
    return;
  }
  observer_.RetainedPreviewBytes(ToI64(r->values[0]));
  observer_.SessionsActive(ToI64(r->values[1]));
}

}  // namespace docshare
