#include "service/sessions/redis_backplane.h"

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
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/auth/tokens.h"
#include "service/common/status_macros.h"
#include "service/sessions/event_codec.h"

namespace docshare {
namespace {

constexpr timeval kTimeout = {1, 0};  // connect and command
constexpr char kChannelPrefix[] = "docshare:events:";
constexpr size_t kMaxIdleConnections = 8;

// Shared by every script: key names, ending a session, lazy expiry and
// forgetting. Integers are formatted with %d: Lua's default %.14g would
// print large ones in exponent form.
constexpr char kPrelude[] = R"lua(
local P = 'docshare:'
local MARGIN = 60000
local function s(n) return string.format('%d', n) end
local function skey(id) return P .. 'session:' .. id end
local function lkey(id, nonce) return P .. 'log:' .. id .. ':' .. nonce end
local function add(key, n)
  local v = tonumber(redis.call('GET', key) or '0') + n
  if v < 0 then v = 0 end
  redis.call('SET', key, s(v))
  return v
end
local function end_session(id, h, now, state, blob)
  local S = skey(id)
  local seq = redis.call('HINCRBY', S, 'seq', 1)
  local L = lkey(id, h.nonce)
  -- The previews go; the log keeps only SessionEnded, for replicas that
  -- catch up after missing the live message.
  redis.call('DEL', L)
  redis.call('XADD', L, s(seq) .. '-1', 'e', blob)
  local forget = now + h.ttl
  redis.call('HSET', S, 'state', state, 'forget', s(forget), 'bytes', '0')
  local retained = add(P .. 'retained', -h.bytes)
  local active = add(P .. 'active', -1)
  redis.call('ZREM', P .. 'expiring', id)
  redis.call('ZADD', P .. 'forget', s(forget), id)
  redis.call('PEXPIRE', S, s(h.ttl + MARGIN))
  redis.call('PEXPIRE', L, s(h.ttl + MARGIN))
  redis.call('PUBLISH', P .. 'events:' .. id, h.nonce .. ' ' .. s(seq) .. ' ' .. blob)
  h.state = state
  h.forget = forget
  h.seq = seq
  h.bytes = 0
  return retained, active
end
local function load(id, now, expired_blob)
  local S = skey(id)
  local v = redis.call('HMGET', S, 'nonce', 'ttl', 'cms', 'exp', 'state', 'forget',
                       'seq', 'docs', 'bytes')
  if not v[1] then
    redis.call('ZREM', P .. 'expiring', id)
    redis.call('ZREM', P .. 'forget', id)
    return nil
  end
  local h = {nonce = v[1], ttl = tonumber(v[2]), cms = v[3], exp = tonumber(v[4]),
             state = v[5], forget = tonumber(v[6]), seq = tonumber(v[7]),
             docs = tonumber(v[8]), bytes = tonumber(v[9])}
  if h.state == 'active' and h.exp <= now then
    end_session(id, h, now, 'expired', expired_blob)
  end
  if h.state ~= 'active' and now >= h.forget then
    redis.call('DEL', S)
    redis.call('ZREM', P .. 'forget', id)
    return nil
  end
  return h
end
local id, now, expired = ARGV[1], tonumber(ARGV[2]), ARGV[3]
)lua";

enum ScriptId { kStart, kGet, kEnd, kAppend, kSubscribe, kExpire, kScriptCount };

// ARGV: id now expired-blob, then each script's own.
constexpr const char* kBodies[kScriptCount] = {
    // kStart: ttl cms nonce
    R"lua(
local ttl, cms, nonce = tonumber(ARGV[4]), ARGV[5], ARGV[6]
local h = load(id, now, expired)
if h and h.state == 'active' then
  if h.ttl == ttl and h.cms == cms then return {'OK', h.nonce, s(h.exp), '-1'} end
  return {'EXISTS', s(h.ttl), h.cms}
end
local S = skey(id)
local exp = now + ttl
redis.call('DEL', S)
redis.call('HSET', S, 'nonce', nonce, 'ttl', s(ttl), 'cms', cms, 'exp', s(exp),
           'state', 'active', 'forget', '0', 'seq', '0', 'docs', '0', 'bytes', '0')
redis.call('PEXPIRE', S, s(2 * ttl + MARGIN))
redis.call('ZADD', P .. 'expiring', s(exp), id)
redis.call('ZREM', P .. 'forget', id)
return {'OK', nonce, s(exp), s(add(P .. 'active', 1))}
)lua",
    // kGet
    R"lua(
local h = load(id, now, expired)
if not h then return {'NOT_FOUND'} end
return {'OK', h.nonce, s(h.ttl), h.cms, s(h.exp), h.state}
)lua",
    // kEnd: ended-blob
    R"lua(
local h = load(id, now, expired)
if not h then return {'NOT_FOUND'} end
if h.state ~= 'active' then return {'STATE', h.state} end
local docs = h.docs
local retained, active = end_session(id, h, now, 'ended', ARGV[4])
return {'OK', s(docs), s(retained), s(active)}
)lua",
    // kAppend: event-blob bytes max-docs max-session-bytes max-retained
    R"lua(
local h = load(id, now, expired)
if not h then return {'NOT_FOUND'} end
if h.state ~= 'active' then return {'STATE', h.state} end
local bytes = tonumber(ARGV[5])
if h.docs >= tonumber(ARGV[6]) then return {'DOCS', s(h.docs)} end
local max_session = tonumber(ARGV[7])
if bytes > max_session - math.min(h.bytes, max_session) then
  return {'SESSION_BYTES', s(h.bytes)}
end
local retained = tonumber(redis.call('GET', P .. 'retained') or '0')
local max_retained = tonumber(ARGV[8])
if bytes > max_retained - math.min(retained, max_retained) then
  return {'RETAINED', s(retained)}
end
local S = skey(id)
local seq = redis.call('HINCRBY', S, 'seq', 1)
redis.call('HINCRBY', S, 'docs', 1)
redis.call('HINCRBY', S, 'bytes', ARGV[5])
retained = add(P .. 'retained', bytes)
local L = lkey(id, h.nonce)
redis.call('XADD', L, s(seq) .. '-1', 'e', ARGV[4])
local pttl = redis.call('PTTL', S)
if pttl > 0 then redis.call('PEXPIRE', L, pttl) end
-- Announced without its previews: replicas with a watcher of the session
-- read it from the log, the others never receive its bytes.
redis.call('PUBLISH', P .. 'events:' .. id, h.nonce .. ' ' .. s(seq))
return {'OK', s(seq), s(retained)}
)lua",
    // kSubscribe: after
    R"lua(
local h = load(id, now, expired)
if not h then return {'NOT_FOUND'} end
if h.state ~= 'active' then return {'STATE', h.state} end
local after = tonumber(ARGV[4])
if after > h.seq then return {'RANGE', s(h.seq)} end
local out = {'OK', h.nonce, s(h.seq)}
if after < h.seq then
  for _, e in ipairs(redis.call('XRANGE', lkey(id, h.nonce), s(after + 1) .. '-0', '+')) do
    out[#out + 1] = e[1]
    out[#out + 1] = e[2][2]
  end
end
return out
)lua",
    // kExpire (ARGV[1] is unused)
    R"lua(
local due = redis.call('ZRANGEBYSCORE', P .. 'expiring', '-inf', ARGV[2], 'LIMIT', 0, 100)
for _, sid in ipairs(due) do load(sid, now, expired) end
local gone = redis.call('ZRANGEBYSCORE', P .. 'forget', '-inf', ARGV[2], 'LIMIT', 0, 100)
for _, sid in ipairs(gone) do load(sid, now, expired) end
return {'OK', redis.call('GET', P .. 'retained') or '0',
        redis.call('GET', P .. 'active') or '0'}
)lua",
};

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

std::string EncodeBody(absl::Time time, std::variant<DocumentShared, SessionEnded> body) {
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

absl::Status Unknown(std::string_view id) {
  return absl::NotFoundError(absl::StrCat("session ", std::string(id), " not found"));
}

absl::Status NotActive(std::string_view id, std::string_view state) {
  return absl::FailedPreconditionError(absl::StrCat(
      "session ", std::string(id), state == "expired" ? " has expired" : " has ended"));
}

SessionState StateOf(std::string_view s) {
  return s == "active"    ? SessionState::kActive
         : s == "expired" ? SessionState::kExpired
                          : SessionState::kEnded;
}

}  // namespace

class RedisBackplane::Connection {
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

namespace redis_detail {

// One local subscriber. Delivery happens with `mu` held (as in
// MemoryBackplane, so cancelling waits for a delivery in progress; recursive
// so a subscriber may cancel from inside OnEvent).
struct Entry {
  Entry(std::string session, Subscriber* s) : id(std::move(session)), subscriber(s) {}
  const std::string id;
  Subscriber* const subscriber;
  std::recursive_mutex mu;
  bool active = true;  // cleared when the subscription goes
  bool ready = false;  // replay read: nonce and next are set
  bool done = false;   // SessionEnded delivered
  std::string nonce;
  uint64_t next = 0;  // the next sequence the subscriber needs
  std::vector<std::pair<std::string, EventPtr>> early;  // live before ready
  std::atomic<bool> cancelled{false};
};

}  // namespace redis_detail

using redis_detail::Entry;

struct RedisBackplane::Hub {
  std::mutex mu;
  std::multimap<std::string, std::shared_ptr<Entry>, std::less<>> entries;
  bool connected = false;  // the Pub/Sub connection is subscribed
  uint64_t epoch = 0;      // bumped on every (re)subscribe

  void Remove(const std::shared_ptr<Entry>& e) {
    std::lock_guard lock(mu);
    auto [first, last] = entries.equal_range(e->id);
    for (auto it = first; it != last; ++it) {
      if (it->second == e) {
        entries.erase(it);
        return;
      }
    }
  }
  std::vector<std::shared_ptr<Entry>> Of(std::string_view id) {
    std::lock_guard lock(mu);
    std::vector<std::shared_ptr<Entry>> out;
    auto [first, last] = entries.equal_range(id);
    for (auto it = first; it != last; ++it) out.push_back(it->second);
    return out;
  }
  std::vector<std::shared_ptr<Entry>> All() {
    std::lock_guard lock(mu);
    std::vector<std::shared_ptr<Entry>> out;
    for (auto& [id, e] : entries) out.push_back(e);
    return out;
  }
};

namespace {

class LiveSubscription final : public Subscription {
 public:
  LiveSubscription(std::shared_ptr<Entry> entry, std::shared_ptr<RedisBackplane::Hub> hub)
      : entry_(std::move(entry)), hub_(std::move(hub)) {}
  ~LiveSubscription() override {
    entry_->cancelled.store(true);
    {
      std::lock_guard lock(entry_->mu);
      entry_->active = false;
    }
    hub_->Remove(entry_);
  }

 private:
  std::shared_ptr<Entry> entry_;
  std::shared_ptr<RedisBackplane::Hub> hub_;
};

}  // namespace

struct RedisBackplane::Reply {
  std::vector<std::string> items;  // a script's flat array of strings
  const std::string& code() const { return items.front(); }
};

RedisBackplane::RedisBackplane(RedisAddress address, const Clock& clock, SessionCaps caps,
                               Observer& observer)
    : address_(std::move(address)),
      clock_(clock),
      caps_(caps),
      observer_(observer),
      hub_(std::make_shared<Hub>()) {
  if (pipe2(wake_, O_CLOEXEC) != 0) std::abort();  // out of descriptors at start-up
  pubsub_ = std::thread([this] { PubSubLoop(); });
}

RedisBackplane::~RedisBackplane() {
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

bool RedisBackplane::Healthy() { return subscribed_.load(); }

bool RedisBackplane::WaitHealthy(absl::Duration timeout) {
  std::unique_lock lock(stop_mu_);
  return stop_cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [this] {
    return subscribed_.load() || stopping_;
  }) && subscribed_.load();
}

namespace {

// One command on an idle pooled connection (or a new one), which goes back
// to the pool afterwards; a connection that failed is dropped.
absl::StatusOr<ReplyPtr> PooledCommand(
    std::mutex& mu, std::vector<std::unique_ptr<RedisBackplane::Connection>>& idle,
    const RedisAddress& address, std::vector<std::string> argv) {
  std::unique_ptr<RedisBackplane::Connection> conn;
  {
    std::lock_guard lock(mu);
    if (!idle.empty()) {
      conn = std::move(idle.back());
      idle.pop_back();
    }
  }
  if (!conn) {
    ASSIGN_OR_RETURN(conn, RedisBackplane::Connection::Open(address));
  }
  ASSIGN_OR_RETURN(ReplyPtr reply, conn->Command(argv));
  {
    std::lock_guard lock(mu);
    if (idle.size() < kMaxIdleConnections) idle.push_back(std::move(conn));
  }
  return reply;
}

}  // namespace

absl::StatusOr<RedisBackplane::Reply> RedisBackplane::Script(
    int script, std::vector<std::string> args) {
  // EVAL keeps no per-server state to lose on a Redis restart (EVALSHA
  // would need a NOSCRIPT retry); Redis caches the compiled script by its
  // SHA either way, so the cost is the script's bytes on the wire.
  std::vector<std::string> argv = {"EVAL", absl::StrCat(kPrelude, kBodies[script]), "0"};
  for (std::string& a : args) argv.push_back(std::move(a));
  absl::StatusOr<ReplyPtr> r = PooledCommand(pool_mu_, idle_, address_, std::move(argv));
  if (!r.ok()) return r.status();
  const redisReply& reply = **r;
  if (reply.type == REDIS_REPLY_ERROR) {
    return absl::InternalError(absl::StrCat("redis script: ", reply.str));
  }
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements == 0) {
    return absl::InternalError("redis script: unexpected reply");
  }
  Reply out;
  for (size_t i = 0; i < reply.elements; ++i) {
    const redisReply* e = reply.element[i];
    if (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) {
      out.items.emplace_back(e->str, e->len);
    } else if (e->type == REDIS_REPLY_INTEGER) {
      out.items.push_back(std::to_string(e->integer));
    } else {
      out.items.emplace_back();
    }
  }
  return out;
}

absl::StatusOr<SessionInfo> RedisBackplane::Start(const SessionSettings& settings) {
  if (settings.ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("session ttl must be positive");
  }
  const absl::Time now = clock_.Now();
  const int64_t ttl_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(settings.ttl));
  ASSIGN_OR_RETURN(
      Reply r,
      Script(kStart, {settings.id, absl::StrCat(absl::ToUnixMillis(now)),
                      EncodeBody(now, SessionEnded{"expired"}), absl::StrCat(ttl_ms),
                      settings.consumer_may_share ? "1" : "0", NewNonce()}));
  if (r.code() == "EXISTS" && r.items.size() == 3) {
    return absl::AlreadyExistsError(
        absl::StrCat("session ", settings.id, " is active with other settings (ttl ",
                     absl::FormatDuration(absl::Milliseconds(ToI64(r.items[1]))),
                     ", consumer_may_share ", r.items[2] == "1" ? "true" : "false", ")"));
  }
  if (r.code() != "OK" || r.items.size() != 4)
    return absl::InternalError("redis: bad Start");
  if (r.items[3] != "-1") observer_.SessionsActive(ToI64(r.items[3]));
  return SessionInfo{.id = settings.id,
                     .nonce = r.items[1],
                     .ttl = settings.ttl,
                     .consumer_may_share = settings.consumer_may_share,
                     .expires_at = absl::FromUnixMillis(ToI64(r.items[2])),
                     .state = SessionState::kActive};
}

absl::StatusOr<SessionInfo> RedisBackplane::Get(std::string_view id) {
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(Reply r,
                   Script(kGet, {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
                                 EncodeBody(now, SessionEnded{"expired"})}));
  if (r.code() == "NOT_FOUND") return Unknown(id);
  if (r.code() != "OK" || r.items.size() != 6)
    return absl::InternalError("redis: bad Get");
  return SessionInfo{.id = std::string(id),
                     .nonce = r.items[1],
                     .ttl = absl::Milliseconds(ToI64(r.items[2])),
                     .consumer_may_share = r.items[3] == "1",
                     .expires_at = absl::FromUnixMillis(ToI64(r.items[4])),
                     .state = StateOf(r.items[5])};
}

absl::StatusOr<uint32_t> RedisBackplane::End(std::string_view id,
                                             std::string_view reason) {
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(Reply r,
                   Script(kEnd, {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
                                 EncodeBody(now, SessionEnded{"expired"}),
                                 EncodeBody(now, SessionEnded{std::string(reason)})}));
  if (r.code() == "NOT_FOUND") return Unknown(id);
  if (r.code() == "STATE" && r.items.size() == 2) return NotActive(id, r.items[1]);
  if (r.code() != "OK" || r.items.size() != 4)
    return absl::InternalError("redis: bad End");
  observer_.RetainedPreviewBytes(ToI64(r.items[2]));
  observer_.SessionsActive(ToI64(r.items[3]));
  return static_cast<uint32_t>(ToU64(r.items[1]));
}

absl::StatusOr<EventPtr> RedisBackplane::Append(
    std::string_view id, std::shared_ptr<const Document> document) {
  if (document == nullptr) return absl::InvalidArgumentError("no document to append");
  const uint64_t bytes = document->PreviewBytes();
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(
      Reply r,
      Script(kAppend, {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
                       EncodeBody(now, SessionEnded{"expired"}),
                       EncodeBody(now, DocumentShared{document}), absl::StrCat(bytes),
                       absl::StrCat(std::max(caps_.max_documents, 0)),
                       absl::StrCat(caps_.max_session_bytes),
                       absl::StrCat(caps_.max_retained_bytes)}));
  const std::string& code = r.code();
  if (code == "NOT_FOUND") return Unknown(id);
  if (code == "STATE" && r.items.size() == 2) return NotActive(id, r.items[1]);
  if (code == "DOCS" && r.items.size() == 2) {
    return absl::FailedPreconditionError(absl::StrCat("session ", std::string(id),
                                                      " already holds ", r.items[1],
                                                      " documents, the most allowed"));
  }
  if (code == "SESSION_BYTES" && r.items.size() == 2) {
    return absl::FailedPreconditionError(absl::StrCat(
        "session ", std::string(id), " holds ", r.items[1], " preview bytes; ", bytes,
        " more would pass its cap of ", caps_.max_session_bytes));
  }
  if (code == "RETAINED" && r.items.size() == 2) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the service already holds ", r.items[1], " preview bytes; ", bytes,
                     " more would pass its cap of ", caps_.max_retained_bytes));
  }
  if (code != "OK" || r.items.size() != 3)
    return absl::InternalError("redis: bad Append");
  observer_.RetainedPreviewBytes(ToI64(r.items[2]));
  auto event = std::make_shared<SessionEvent>();
  event->sequence = ToU64(r.items[1]);
  event->time = now;
  event->event = DocumentShared{std::move(document)};
  return EventPtr(std::move(event));
}

namespace {

// Delivery to one entry, with its mu held.
class Delivery {
 public:
  using Fetch = std::function<absl::StatusOr<std::vector<EventPtr>>(
      const std::string& id, const std::string& nonce, uint64_t from, uint64_t to)>;

  explicit Delivery(Fetch fetch) : fetch_(std::move(fetch)) {}

  // A live event from Pub/Sub (or replayed from `early`).
  void Offer(Entry& e, const std::string& nonce, const EventPtr& event) {
    if (!e.active || e.done) return;
    if (!e.ready) {
      e.early.emplace_back(nonce, event);
      return;
    }
    if (nonce != e.nonce || event->sequence < e.next) return;
    // A gap: messages were missed (a reconnect). Fill it from the log; if
    // Redis cannot answer now, deliver nothing: the catch-up after the
    // reconnect resumes from e.next.
    if (event->sequence > e.next && !Fill(e, event->sequence - 1)) return;
    Deliver(e, event);
  }

  // Everything logged from e.next on.
  void CatchUp(Entry& e) {
    if (e.ready && e.active && !e.done) Fill(e, std::numeric_limits<uint64_t>::max());
  }

 private:
  bool Fill(Entry& e, uint64_t to) {
    absl::StatusOr<std::vector<EventPtr>> events = fetch_(e.id, e.nonce, e.next, to);
    if (!events.ok()) return false;
    for (const EventPtr& event : *events) {
      if (e.done || !e.active) break;
      if (event->sequence >= e.next) Deliver(e, event);
    }
    return true;
  }

  static void Deliver(Entry& e, const EventPtr& event) {
    e.next = event->sequence + 1;
    if (std::holds_alternative<SessionEnded>(event->event)) e.done = true;
    e.subscriber->OnEvent(event);
  }

  Fetch fetch_;
};

}  // namespace

absl::StatusOr<Backplane::Subscribed> RedisBackplane::Subscribe(std::string_view id,
                                                                uint64_t after_sequence,
                                                                Subscriber* subscriber) {
  if (subscriber == nullptr) return absl::InvalidArgumentError("no subscriber");
  // Registered (buffering) before the replay is read: every event published
  // after the read reaches the entry; those before it are in the replay.
  auto entry = std::make_shared<Entry>(std::string(id), subscriber);
  bool connected;
  uint64_t epoch;
  {
    std::lock_guard lock(hub_->mu);
    hub_->entries.emplace(entry->id, entry);
    connected = hub_->connected;
    epoch = hub_->epoch;
  }
  const absl::Time now = clock_.Now();
  absl::StatusOr<Reply> r =
      Script(kSubscribe,
             {std::string(id), absl::StrCat(absl::ToUnixMillis(now)),
              EncodeBody(now, SessionEnded{"expired"}), absl::StrCat(after_sequence)});
  auto fail = [&](absl::Status s) {
    hub_->Remove(entry);
    return s;
  };
  if (!r.ok()) return fail(r.status());
  const std::string& code = r->code();
  if (code == "NOT_FOUND") return fail(Unknown(id));
  if (code == "STATE" && r->items.size() == 2) return fail(NotActive(id, r->items[1]));
  if (code == "RANGE" && r->items.size() == 2) {
    return fail(absl::OutOfRangeError(
        absl::StrCat("after_sequence ", after_sequence, " is beyond the last sequence ",
                     r->items[1], " of session ", std::string(id))));
  }
  if (code != "OK" || r->items.size() < 3 || r->items.size() % 2 != 1) {
    return fail(absl::InternalError("redis: bad Subscribe"));
  }
  Subscribed subscribed;
  for (size_t i = 3; i + 1 < r->items.size(); i += 2) {
    absl::StatusOr<EventPtr> event =
        DecodeWithSequence(r->items[i + 1], SequenceOfId(r->items[i]));
    if (!event.ok()) return fail(event.status());
    subscribed.replay.push_back(*std::move(event));
  }
  {
    std::lock_guard lock(entry->mu);
    entry->nonce = r->items[1];
    entry->next = ToU64(r->items[2]) + 1;
    entry->ready = true;
    Delivery delivery(FetchFunction());
    for (auto& [nonce, event] : std::exchange(entry->early, {})) {
      delivery.Offer(*entry, nonce, event);
    }
    // Subscribed while Pub/Sub was down or reconnecting: what was published
    // meanwhile never reached the entry, and the reconnect's catch-up may
    // have run before it was ready.
    bool stale;
    {
      std::lock_guard hub_lock(hub_->mu);
      stale = !connected || hub_->epoch != epoch;
    }
    if (stale) delivery.CatchUp(*entry);
  }
  subscribed.live = std::make_unique<LiveSubscription>(entry, hub_);
  return subscribed;
}

RedisBackplane::Fetch RedisBackplane::FetchFunction() {
  return [this](const std::string& id, const std::string& nonce, uint64_t from,
                uint64_t to) -> absl::StatusOr<std::vector<EventPtr>> {
    const std::string end = to == std::numeric_limits<uint64_t>::max()
                                ? std::string("+")
                                : absl::StrCat(to, "-1");
    ASSIGN_OR_RETURN(ReplyPtr r,
                     PooledCommand(pool_mu_, idle_, address_,
                                   {"XRANGE", absl::StrCat("docshare:log:", id, ":", nonce),
                                    absl::StrCat(from, "-0"), end}));
    if (r->type != REDIS_REPLY_ARRAY) return absl::InternalError("redis: bad XRANGE");
    std::vector<EventPtr> out;
    for (size_t i = 0; i < r->elements; ++i) {
      const redisReply* e = r->element[i];
      if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
          e->element[1]->type != REDIS_REPLY_ARRAY || e->element[1]->elements != 2) {
        return absl::InternalError("redis: bad XRANGE entry");
      }
      const redisReply* fields = e->element[1];
      ASSIGN_OR_RETURN(
          EventPtr event,
          DecodeWithSequence(
              std::string_view(fields->element[1]->str, fields->element[1]->len),
              SequenceOfId(std::string_view(e->element[0]->str, e->element[0]->len))));
      out.push_back(std::move(event));
    }
    return out;
  };
}

void RedisBackplane::ExpireDue() {
  const absl::Time now = clock_.Now();
  absl::StatusOr<Reply> r = Script(kExpire, {"", absl::StrCat(absl::ToUnixMillis(now)),
                                             EncodeBody(now, SessionEnded{"expired"})});
  if (!r.ok() || r->code() != "OK" || r->items.size() != 3) return;  // next tick retries
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

void RedisBackplane::PubSubLoop() {
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
    {
      std::lock_guard lock(hub_->mu);
      hub_->connected = up;
      if (up) ++hub_->epoch;
    }
    {
      std::lock_guard lock(stop_mu_);
      subscribed_.store(up);
    }
    stop_cv_.notify_all();
  };
  const Fetch fetch = FetchFunction();
  Delivery delivery(fetch);
  std::chrono::milliseconds backoff(50);
  bool was_connected = false;
  while (!stopping()) {
    absl::StatusOr<std::unique_ptr<Connection>> conn = Connection::Open(address_);
    ReplyPtr ack;
    if (conn.ok()) {
      absl::StatusOr<ReplyPtr> r =
          (*conn)->Command({"PSUBSCRIBE", absl::StrCat(kChannelPrefix, "*")});
      if (r.ok() && (*r)->type == REDIS_REPLY_ARRAY) ack = *std::move(r);
    }
    if (!ack) {
      // Redis is down (not a blip a reconnect mends): live watchers cannot be
      // served, so they are told to resume, here or on another replica.
      if (was_connected) {
        was_connected = false;
        for (const auto& e : hub_->All()) {
          {
            std::lock_guard lock(e->mu);
            if (e->active && !e->done) {
              e->done = true;
              e->subscriber->OnBackplaneLost();
            }
          }
          hub_->Remove(e);
        }
      }
      std::unique_lock lock(stop_mu_);
      stop_cv_.wait_for(lock, backoff, [this] { return stopping_; });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
      continue;
    }
    backoff = std::chrono::milliseconds(50);
    redisContext* c = (*conn)->context();
    set_subscribed(true);
    was_connected = true;
    // Whatever was published while this replica was not listening.
    for (const auto& e : hub_->All()) {
      std::lock_guard lock(e->mu);
      delivery.CatchUp(*e);
    }
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
        if (channel.substr(0, sizeof(kChannelPrefix) - 1) != kChannelPrefix) continue;
        const std::string id(channel.substr(sizeof(kChannelPrefix) - 1));
        std::vector<std::shared_ptr<Entry>> targets = hub_->Of(id);
        if (targets.empty()) continue;
        // "nonce seq blob", or "nonce seq" for a document (its previews are
        // read from the log once, for all of this replica's watchers).
        const size_t a = payload.find(' ');
        if (a == std::string_view::npos) continue;
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
        if (!event.ok()) continue;
        for (const auto& e : targets) {
          std::lock_guard lock(e->mu);
          delivery.Offer(*e, nonce, *event);
          if (e->done) hub_->Remove(e);
        }
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
