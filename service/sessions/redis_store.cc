#include "service/sessions/redis_store.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <utility>
#include <variant>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "service/auth/tokens.h"
#include "service/common/status_macros.h"
#include "service/sessions/errors.h"
#include "service/sessions/event_codec.h"
#include "service/sessions/lua_scripts.h"
#include "service/sessions/replay_cache.h"
#include "service/sessions/watcher.h"

namespace docshare {
namespace {

constexpr timeval kTimeout = {1, 0};  // connect and command
constexpr char kChannelPrefix[] = "docshare:events:";
constexpr size_t kMaxIdleConnections = 8;
// Log entries per XRANGE of a replay: an entry holds a document's previews
// (up to a few MB), so a page stays far inside kTimeout.
constexpr size_t kReplayPage = 8;

enum ScriptId {
  kStart,
  kGet,
  kEnd,
  kAppend,
  kSubscribe,
  kExpire,
  kWithdraw,
  kAcknowledge,
  kSnapshot,
  kWatchers,
  kScriptCount
};

// The scripts in ScriptId order (service/sessions/lua/*.lua, embedded at
// build time), each run after the prelude. ARGV: id now expired-blob, then
// each script's own (named in its file's first line).
constexpr const std::string_view* kBodies[kScriptCount] = {
    &lua::kStart,  &lua::kGet,      &lua::kEnd,         &lua::kAppend,   &lua::kSubscribe,
    &lua::kExpire, &lua::kWithdraw, &lua::kAcknowledge, &lua::kSnapshot, &lua::kWatchers};
constexpr char kPurgePrefix[] = "docshare:purge:";
// A replica's watcher report older than this no longer counts (DESIGN).
constexpr int64_t kWatcherReportMaxAgeMs = 10000;

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

constexpr size_t kNonceBytes = 16;

std::string NewNonce() { return RandomToken(kNonceBytes); }

uint64_t ToU64(std::string_view s) {
  uint64_t v = 0;
  return absl::SimpleAtoi(absl::string_view(s.data(), s.size()), &v) ? v : 0;
}
int64_t ToI64(std::string_view s) {
  int64_t v = 0;
  return absl::SimpleAtoi(absl::string_view(s.data(), s.size()), &v) ? v : 0;
}

// A stream entry ID "<seq>-1" to its sequence.
uint64_t SequenceOfId(std::string_view id) { return ToU64(id.substr(0, id.find('-'))); }

std::string EncodeBody(absl::Time time, EventBody body) {
  SessionEvent event;  // the sequence is Redis's: carried beside the bytes
  event.time = time;
  event.event = std::move(body);
  return EncodeEvent(event);
}

absl::StatusOr<EventPtr> DecodeWithSequence(std::string_view bytes, uint64_t sequence) {
  absl::StatusOr<SessionEvent> event = DecodeEvent(bytes);
  if (!event.ok()) {
    return absl::InternalError(absl::StrCat("undecodable event ", sequence,
                                            " in Redis: ", event.status().message()));
  }
  event->sequence = sequence;
  return std::make_shared<const SessionEvent>(*std::move(event));
}

std::string AddressText(const RedisAddress& a) {
  return absl::StrCat("redis://", a.host, ":", a.port, "/", a.db);
}

SessionState StateOf(std::string_view s) {
  return s == "active"    ? SessionState::kActive
         : s == "expired" ? SessionState::kExpired
                          : SessionState::kEnded;
}

absl::Status NotActive(std::string_view id, std::string_view state) {
  return SessionNotActive(id, StateOf(state));
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

class RedisStore::Connection {
 public:
  explicit Connection(redisContext* c) : c_(c) {}
  ~Connection() { redisFree(c_); }

  static absl::StatusOr<std::unique_ptr<Connection>> Open(const RedisAddress& a) {
    redisContext* c = redisConnectWithTimeout(a.host.c_str(), a.port, kTimeout);
    if (c == nullptr || c->err) {
      std::string why = c ? c->errstr : "out of memory";
      if (c) redisFree(c);
      return absl::UnavailableError(
          absl::StrCat("redis ", a.host, ":", a.port, " unreachable: ", why));
    }
    auto conn = std::make_unique<Connection>(c);
    redisSetTimeout(c, kTimeout);
    RETURN_IF_ERROR(SecureRedisConnection(c, a.host, a.security));
    if (a.db != 0) {
      ASSIGN_OR_RETURN(ReplyPtr r, conn->Command({"SELECT", std::to_string(a.db)}));
      if (r->type == REDIS_REPLY_ERROR) {
        return absl::InvalidArgumentError(absl::StrCat("redis SELECT: ", r->str));
      }
    }
    return conn;
  }

  // UNAVAILABLE on an I/O error (the connection is then useless); an error
  // reply is returned as a reply.
  absl::StatusOr<ReplyPtr> Command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (r == nullptr) {
      broken_ = true;
      return absl::UnavailableError(absl::StrCat("redis: ", c_->errstr));
    }
    return ReplyPtr(r);
  }

  redisContext* context() { return c_; }
  bool broken() const { return broken_; }

 private:
  redisContext* c_;
  bool broken_ = false;
};

struct RedisStore::Reply {
  std::vector<std::string> items;  // a script's flat array of strings
  const std::string& code() const { return items.front(); }
};

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
      replica_(RandomToken(9)) {
  if (pipe2(wake_, O_CLOEXEC) != 0) std::abort();  // out of descriptors at start-up
  pubsub_ = std::thread([this] { PubSubLoop(); });
  calls_ = std::make_unique<StoreThreads>(call_threads.threads, call_threads.queue);
}

RedisStore::~RedisStore() {
  calls_->Stop();
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
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
  std::unique_lock lock(stop_mu_);
  return stop_cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [this] {
    return subscribed_.load() || stopping_;
  }) && subscribed_.load();
}

namespace {

// One command on an idle pooled connection (or a new one), which goes back
// to the pool afterwards; a connection that failed is dropped.
absl::StatusOr<ReplyPtr> PooledCommand(
    std::mutex& mu, std::vector<std::unique_ptr<RedisStore::Connection>>& idle,
    const RedisAddress& address, std::vector<std::string> argv) {
  std::unique_ptr<RedisStore::Connection> conn;
  {
    std::lock_guard lock(mu);
    if (!idle.empty()) {
      conn = std::move(idle.back());
      idle.pop_back();
    }
  }
  if (!conn) {
    ASSIGN_OR_RETURN(conn, RedisStore::Connection::Open(address));
  }
  ASSIGN_OR_RETURN(ReplyPtr reply, conn->Command(argv));
  {
    std::lock_guard lock(mu);
    if (idle.size() < kMaxIdleConnections) idle.push_back(std::move(conn));
  }
  return reply;
}

}  // namespace

absl::Status RedisStore::Unexpected(std::string_view what) {
  observer_.SessionAnomaly("unexpected_reply", what);
  return absl::InternalError(std::string(what));
}

absl::StatusOr<RedisStore::Reply> RedisStore::Script(int script,
                                                     std::vector<std::string> args) {
  // EVAL keeps no per-server state to lose on a Redis restart (EVALSHA
  // would need a NOSCRIPT retry); Redis caches the compiled script by its
  // SHA either way, so the cost is the script's bytes on the wire.
  std::vector<std::string> argv = {
      "EVAL", std::string(lua::kPrelude).append(*kBodies[script]), "0"};
  for (std::string& a : args) argv.push_back(std::move(a));
  absl::StatusOr<ReplyPtr> r = PooledCommand(pool_mu_, idle_, address_, std::move(argv));
  if (!r.ok()) return r.status();
  const redisReply& reply = **r;
  if (reply.type == REDIS_REPLY_ERROR) {
    return Unexpected(absl::StrCat("redis script: ", reply.str));
  }
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements == 0) {
    return Unexpected("redis script: not an array");
  }
  Reply out;
  for (size_t i = 0; i < reply.elements; ++i) {
    const redisReply* e = reply.element[i];
    if (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) {
      out.items.emplace_back(e->str, e->len);
    } else if (e->type == REDIS_REPLY_INTEGER) {
      out.items.push_back(std::to_string(e->integer));
    } else {
      return Unexpected(absl::StrCat("redis script: item ", i, " of type ", e->type));
    }
  }
  return out;
}

absl::StatusOr<SessionInfo> RedisStore::Start(const SessionSettings& settings) {
  if (settings.ttl <= absl::ZeroDuration()) {
    return NonPositiveTtl();
  }
  const absl::Time now = clock_.Now();
  const int64_t ttl_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(settings.ttl));
  ASSIGN_OR_RETURN(
      Reply r,
      Script(kStart, {settings.id, absl::StrCat(absl::ToUnixMillis(now)),
                      EncodeBody(now, SessionEnded{"expired"}), absl::StrCat(ttl_ms),
                      settings.consumer_may_share ? "1" : "0", NewNonce()}));
  if (r.code() == "EXISTS" && r.items.size() == 3) {
    return SessionSettingsDiffer(settings.id, absl::Milliseconds(ToI64(r.items[1])),
                                 r.items[2] == "1");
  }
  if (r.code() != "OK" || r.items.size() != 4)
    return Unexpected("redis: bad Start reply");
  if (r.items[3] != "-1") observer_.SessionsActive(ToI64(r.items[3]));
  return SessionInfo{.id = settings.id,
                     .nonce = r.items[1],
                     .ttl = settings.ttl,
                     .consumer_may_share = settings.consumer_may_share,
                     .expires_at = absl::FromUnixMillis(ToI64(r.items[2])),
                     .state = SessionState::kActive};
}

absl::StatusOr<SessionInfo> RedisStore::Get(std::string_view id) {
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(Reply r,
                   Script(kGet, {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
                                 EncodeBody(now, SessionEnded{"expired"})}));
  if (r.code() == "NOT_FOUND") return SessionNotFound(id);
  if (r.code() != "OK" || r.items.size() != 6) return Unexpected("redis: bad Get reply");
  return SessionInfo{.id = std::string(id),
                     .nonce = r.items[1],
                     .ttl = absl::Milliseconds(ToI64(r.items[2])),
                     .consumer_may_share = r.items[3] == "1",
                     .expires_at = absl::FromUnixMillis(ToI64(r.items[4])),
                     .state = StateOf(r.items[5])};
}

absl::StatusOr<uint32_t> RedisStore::End(std::string_view id, std::string_view reason) {
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(Reply r,
                   Script(kEnd, {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
                                 EncodeBody(now, SessionEnded{"expired"}),
                                 EncodeBody(now, SessionEnded{std::string(reason)})}));
  if (r.code() == "NOT_FOUND") return SessionNotFound(id);
  if (r.code() == "STATE" && r.items.size() == 2) return NotActive(id, r.items[1]);
  if (r.code() != "OK" || r.items.size() != 4) return Unexpected("redis: bad End reply");
  replay_->Forget(id);
  observer_.RetainedPreviewBytes(ToI64(r.items[2]));
  observer_.SessionsActive(ToI64(r.items[3]));
  return static_cast<uint32_t>(ToU64(r.items[1]));
}

absl::StatusOr<EventPtr> RedisStore::Append(std::string_view id, std::string_view nonce,
                                            std::shared_ptr<const Document> document) {
  if (document == nullptr) return NoDocumentToAppend();
  const uint64_t bytes = document->PreviewBytes();
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(
      Reply r,
      Script(kAppend,
             {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
              EncodeBody(now, SessionEnded{"expired"}),
              EncodeBody(now, DocumentShared{document}), absl::StrCat(bytes),
              absl::StrCat(std::max(caps_.max_documents, 0)),
              absl::StrCat(caps_.max_session_bytes),
              absl::StrCat(caps_.max_retained_bytes), std::string(nonce),
              document->document_id, absl::StrCat(static_cast<int>(document->shared_by)),
              EncodePurged(now, *document), PreviewShas(*document)}));
  const std::string& code = r.code();
  if (code == "NOT_FOUND") return SessionNotFound(id);
  if (code == "STARTED_AGAIN") return SessionStartedAgain(id);
  if (code == "STATE" && r.items.size() == 2) return NotActive(id, r.items[1]);
  if (code == "DOCS" && r.items.size() == 2) {
    return TooManyDocuments(id, ToU64(r.items[1]));
  }
  if (code == "SESSION_BYTES" && r.items.size() == 2) {
    return SessionBytesCap(id, ToU64(r.items[1]), bytes, caps_.max_session_bytes);
  }
  if (code == "RETAINED" && r.items.size() == 2) {
    return RetainedBytesCap(ToU64(r.items[1]), bytes, caps_.max_retained_bytes);
  }
  if (code != "OK" || r.items.size() != 3) return Unexpected("redis: bad Append reply");
  observer_.RetainedPreviewBytes(ToI64(r.items[2]));
  auto event = std::make_shared<SessionEvent>();
  event->sequence = ToU64(r.items[1]);
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
      Reply r, Script(kWithdraw,
                      {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
                       EncodeBody(now, SessionEnded{"expired"}), std::string(document_id),
                       RoleNumber(by), blob, RoleNumber(Role::kAdmin)}));
  const std::string& code = r.code();
  if (code == "NOT_FOUND") return SessionNotFound(id);
  if (code == "STATE" && r.items.size() == 2) return NotActive(id, r.items[1]);
  if (code == "NO_DOC") return DocumentNotFound(id, document_id);
  if (code == "DENIED" && r.items.size() == 2) {
    return WithdrawNotAllowed(
        document_id, by, static_cast<Role>(std::min<uint64_t>(ToU64(r.items[1]), 3)));
  }
  if (code == "ALREADY") return EventPtr();
  if (code == "LOST")
    return Unexpected("redis: a shared document's log entry is missing");
  if (code != "OK" || r.items.size() != 3) return Unexpected("redis: bad Withdraw reply");
  replay_->Forget(id);  // its DocumentShared was rewritten without previews
  observer_.RetainedPreviewBytes(ToI64(r.items[2]));
  auto event = std::make_shared<SessionEvent>();
  event->sequence = ToU64(r.items[1]);
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
      Reply r, Script(kAcknowledge,
                      {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
                       EncodeBody(now, SessionEnded{"expired"}), std::string(document_id),
                       RoleNumber(by), absl::StrCat(static_cast<int>(acknowledgement)),
                       EncodeBody(now, body)}));
  const std::string& code = r.code();
  if (code == "NOT_FOUND") return SessionNotFound(id);
  if (code == "STATE" && r.items.size() == 2) return NotActive(id, r.items[1]);
  if (code == "NO_DOC") return DocumentNotFound(id, document_id);
  if (code == "WITHDRAWN") return DocumentIsWithdrawn(document_id);
  if (code == "ALREADY") return EventPtr();
  if (code != "OK" || r.items.size() != 2) {
    return Unexpected("redis: bad Acknowledge reply");
  }
  auto event = std::make_shared<SessionEvent>();
  event->sequence = ToU64(r.items[1]);
  event->time = now;
  event->event = std::move(body);
  return EventPtr(std::move(event));
}

absl::StatusOr<SessionSnapshot> RedisStore::Snapshot(std::string_view id) {
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(
      Reply r, Script(kSnapshot, {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
                                  EncodeBody(now, SessionEnded{"expired"}),
                                  absl::StrCat(kWatcherReportMaxAgeMs)}));
  if (r.code() == "NOT_FOUND") return SessionNotFound(id);
  if (r.code() != "OK" || r.items.size() < 8 || r.items.size() % 2 != 0) {
    return Unexpected("redis: bad Snapshot reply");
  }
  SessionSnapshot snapshot;
  snapshot.info = SessionInfo{.id = std::string(id),
                              .nonce = r.items[1],
                              .ttl = absl::Milliseconds(ToI64(r.items[2])),
                              .consumer_may_share = r.items[3] == "1",
                              .expires_at = absl::FromUnixMillis(ToI64(r.items[4])),
                              .state = StateOf(r.items[5])};
  snapshot.last_sequence = ToU64(r.items[6]);
  snapshot.watchers = static_cast<uint32_t>(ToU64(r.items[7]));
  for (size_t i = 8; i + 1 < r.items.size(); i += 2) {
    const uint64_t sequence = SequenceOfId(r.items[i]);
    absl::StatusOr<EventPtr> event = DecodeWithSequence(r.items[i + 1], sequence);
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
  absl::StatusOr<Reply> r = Script(kWatchers, std::move(args));
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
  absl::StatusOr<Reply> r =
      Script(kSubscribe,
             {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
              EncodeBody(now, SessionEnded{"expired"}), absl::StrCat(after_sequence)});
  auto fail = [&](absl::Status s) {
    hub_->Drop(watch);
    return s;
  };
  if (!r.ok()) return fail(r.status());
  const std::string& code = r->code();
  if (code == "NOT_FOUND") return fail(SessionNotFound(id));
  if (code == "STATE" && r->items.size() == 2) return fail(NotActive(id, r->items[1]));
  if (code == "RANGE" && r->items.size() == 2) {
    return fail(AfterSequenceBeyondEnd(id, after_sequence, ToU64(r->items[1])));
  }
  if (code != "OK" || r->items.size() != 3) {
    return fail(Unexpected("redis: bad Subscribe reply"));
  }
  const std::string& nonce = r->items[1];
  const uint64_t last = ToU64(r->items[2]);
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
                       PooledCommand(pool_mu_, idle_, address_,
                                     {"XRANGE", key, absl::StrCat(next, "-0"), end,
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
  absl::StatusOr<Reply> r = Script(kExpire, {"", absl::StrCat(absl::ToUnixMillis(now)),
                                             EncodeBody(now, SessionEnded{"expired"})});
  if (!r.ok() && absl::IsUnavailable(r.status())) return;  // Redis down: the next tick
  if (!r.ok() || r->code() != "OK" || r->items.size() != 3) {
    observer_.SessionAnomaly("expiry_failed", r.ok() ? std::string("unexpected reply")
                                                     : std::string(r.status().message()));
    return;
  }
  observer_.RetainedPreviewBytes(ToI64(r->items[1]));
  observer_.SessionsActive(ToI64(r->items[2]));
}

namespace {

bool Flush(redisContext* c) {
  int done = 0;
  while (!done) {
    if (redisBufferWrite(c, &done) == REDIS_ERR) return false;
  }
  return true;
}

}  // namespace

void RedisStore::PubSubLoop() {
  using Clock = std::chrono::steady_clock;
  auto stopping = [this] {
    std::lock_guard lock(stop_mu_);
    return stopping_;
  };
  auto set_subscribed = [this](bool up) {
    {
      // Pooled command connections from before a drop are likely dead (a
      // Redis restart closed them): open fresh ones rather than fail a
      // command on each.
      std::lock_guard lock(pool_mu_);
      idle_.clear();
    }
    // A withdrawal's purge message may have been missed meanwhile.
    replay_->Clear();
    // Up again: every watch reads whatever was published while this replica
    // was not listening.
    hub_->SetFeed(up);
    {
      std::lock_guard lock(stop_mu_);
      subscribed_.store(up);
    }
    stop_cv_.notify_all();
  };
  const Fetch fetch = CachedFetchFunction();
  std::chrono::milliseconds backoff(50);
  bool was_connected = false;
  // Logged at start and once per transition, not once per retry.
  std::optional<bool> reported;
  auto report = [&](bool reachable, std::string_view why) {
    if (reported == reachable) return;
    reported = reachable;
    observer_.BackplaneReachable(AddressText(address_), reachable, why);
  };
  while (!stopping()) {
    absl::StatusOr<std::unique_ptr<Connection>> conn = Connection::Open(address_);
    ReplyPtr ack;
    std::string why;
    if (conn.ok()) {
      absl::StatusOr<ReplyPtr> r =
          (*conn)->Command({"PSUBSCRIBE", absl::StrCat(kChannelPrefix, "*"),
                            absl::StrCat(kPurgePrefix, "*")});
      if (r.ok() && (*r)->type == REDIS_REPLY_ARRAY) {
        ack = *std::move(r);
      } else {
        why = r.ok() ? "PSUBSCRIBE refused" : std::string(r.status().message());
      }
    } else {
      why = std::string(conn.status().message());
    }
    if (!ack) {
      report(false, why);
      // Redis is down (not a blip a reconnect mends): live watchers cannot be
      // served, so they are told to resume, here or on another replica.
      if (was_connected) {
        was_connected = false;
        hub_->LoseAll();
      }
      std::unique_lock lock(stop_mu_);
      stop_cv_.wait_for(lock, backoff, [this] { return stopping_; });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
      continue;
    }
    backoff = std::chrono::milliseconds(50);
    redisContext* c = (*conn)->context();
    report(true, "");
    set_subscribed(true);
    was_connected = true;
    auto heard = Clock::now();
    auto pinged = heard;
    while (!stopping()) {
      void* raw = nullptr;
      if (redisReaderGetReply(c->reader, &raw) != REDIS_OK) break;
      if (raw != nullptr) {
        ReplyPtr reply(static_cast<redisReply*>(raw));
        heard = Clock::now();
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4 ||
            std::string_view(reply->element[0]->str, reply->element[0]->len) !=
                "pmessage") {
          continue;  // the PING's pong, subscribe acks
        }
        std::string_view channel(reply->element[2]->str, reply->element[2]->len);
        std::string_view payload(reply->element[3]->str, reply->element[3]->len);
        if (channel.substr(0, sizeof(kPurgePrefix) - 1) == kPurgePrefix) {
          // A withdrawal (on any replica) rewrote a DocumentShared of the log.
          replay_->Forget(channel.substr(sizeof(kPurgePrefix) - 1));
          const std::vector<std::string> sha256 = absl::StrSplit(
              absl::string_view(payload.data(), payload.size()), ' ', absl::SkipEmpty());
          NotifyPurge(sha256);
          continue;
        }
        if (channel.substr(0, sizeof(kChannelPrefix) - 1) != kChannelPrefix) {
          observer_.SessionAnomaly("malformed_announcement", channel);
          continue;
        }
        const std::string id(channel.substr(sizeof(kChannelPrefix) - 1));
        if (!hub_->Watched(id)) continue;
        // "nonce seq blob", or "nonce seq" for a document (its previews are
        // read from the log once, for all of this replica's watchers).
        const size_t a = payload.find(' ');
        if (a == std::string_view::npos) {
          observer_.SessionAnomaly("malformed_announcement", channel);
          continue;
        }
        const size_t b = payload.find(' ', a + 1);
        const std::string nonce(payload.substr(0, a));
        const uint64_t seq = ToU64(payload.substr(
            a + 1, b == std::string_view::npos ? std::string_view::npos : b - a - 1));
        absl::StatusOr<EventPtr> event;
        if (b != std::string_view::npos) {
          event = DecodeWithSequence(payload.substr(b + 1), seq);
        } else {
          absl::StatusOr<std::vector<EventPtr>> logged = fetch(id, nonce, seq, seq);
          // Redis answers Pub/Sub but not a read: reconnect, and the
          // catch-up reads from each watcher's next sequence.
          if (!logged.ok()) break;
          // Gone from the log: the session ended, and its SessionEnded
          // message, which follows, fills in from the log what is left.
          if (logged->empty()) continue;
          event = logged->front();
        }
        if (!event.ok()) {
          observer_.SessionAnomaly("undecodable_entry",
                                   std::string(event.status().message()));
          continue;
        }
        hub_->Publish(id, nonce, *event);
        continue;
      }
      const auto now = Clock::now();
      if (now - heard > std::chrono::seconds(3)) break;  // silent: presume dead
      if (now - pinged > std::chrono::seconds(1)) {
        pinged = now;
        if (redisAppendCommand(c, "PING") != REDIS_OK || !Flush(c)) break;
      }
      pollfd p[2] = {{c->fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      const int n = poll(p, 2, 200);
      if (n < 0 && errno != EINTR) break;
      if (n > 0 && p[0].revents != 0 && redisBufferRead(c) != REDIS_OK) break;
    }
    set_subscribed(false);
  }
}

}  // namespace docshare
