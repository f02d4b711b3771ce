#include "service/sessions/redis_scripts.h"

#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/sessions/errors.h"
#include "service/sessions/lua_scripts.h"
#include "service/sessions/redis_names.h"

namespace docshare {
namespace {

std::string_view BodyOf(RedisScript script) {
  switch (script) {
    case RedisScript::kStart:
      return lua::kStart;
    case RedisScript::kGet:
      return lua::kGet;
    case RedisScript::kEnd:
      return lua::kEnd;
    case RedisScript::kAppend:
      return lua::kAppend;
    case RedisScript::kSubscribe:
      return lua::kSubscribe;
    case RedisScript::kExpire:
      return lua::kExpire;
    case RedisScript::kWithdraw:
      return lua::kWithdraw;
    case RedisScript::kAcknowledge:
      return lua::kAcknowledge;
    case RedisScript::kSnapshot:
      return lua::kSnapshot;
    case RedisScript::kWatchers:
      return lua::kWatchers;
  }
  std::abort();  // not a RedisScript: a bug
}

struct CodeText {
  std::string_view text;
  ScriptCode code;
  int values;  // -1: any (OK, whose values differ by script)
};
constexpr CodeText kCodes[] = {
    {"OK", ScriptCode::kOk, -1},
    {"NOT_FOUND", ScriptCode::kNotFound, 0},
    {"STATE", ScriptCode::kState, 1},
    {"STARTED_AGAIN", ScriptCode::kStartedAgain, 0},
    {"EXISTS", ScriptCode::kExists, 2},
    {"RANGE", ScriptCode::kRange, 1},
    {"DOCS", ScriptCode::kDocs, 1},
    {"SESSION_BYTES", ScriptCode::kSessionBytes, 1},
    {"RETAINED", ScriptCode::kRetained, 1},
    {"NO_DOC", ScriptCode::kNoDoc, 0},
    {"DENIED", ScriptCode::kDenied, 1},
    {"WITHDRAWN", ScriptCode::kWithdrawn, 0},
    {"ALREADY", ScriptCode::kAlready, 0},
    {"LOST", ScriptCode::kLost, 0},
};

}  // namespace

absl::Status SessionErrorOf(const ScriptReply& reply, std::string_view id) {
  switch (reply.code) {
    case ScriptCode::kNotFound:
      return SessionNotFound(id);
    case ScriptCode::kState:
      return SessionNotActive(id, StateOf(reply.values.front()));
    case ScriptCode::kStartedAgain:
      return SessionStartedAgain(id);
    default:
      return absl::OkStatus();
  }
}

absl::Status UnexpectedReply(Observer& observer, std::string_view what) {
  observer.SessionAnomaly("unexpected_reply", what);
  return absl::InternalError(std::string(what));
}

absl::StatusOr<ScriptReply> RunScript(RedisPool& pool, RedisScript script,
                                      std::vector<std::string> args, Observer& observer) {
  // EVAL keeps no per-server state to lose on a Redis restart (EVALSHA
  // would need a NOSCRIPT retry); Redis caches the compiled script by its
  // SHA either way, so the cost is the script's bytes on the wire.
  std::vector<std::string> argv = {
      "EVAL", std::string(lua::kPrelude).append(BodyOf(script)), "0"};
  for (std::string& a : args) argv.push_back(std::move(a));
  absl::StatusOr<ReplyPtr> r = pool.Command(argv);
  if (!r.ok()) return r.status();
  const redisReply& reply = **r;
  if (reply.type == REDIS_REPLY_ERROR) {
    return UnexpectedReply(observer, absl::StrCat("redis script: ", reply.str));
  }
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements == 0) {
    return UnexpectedReply(observer, "redis script: not an array");
  }
  std::vector<std::string> items;
  for (size_t i = 0; i < reply.elements; ++i) {
    const redisReply* e = reply.element[i];
    if (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) {
      items.emplace_back(e->str, e->len);
    } else if (e->type == REDIS_REPLY_INTEGER) {
      items.push_back(std::to_string(e->integer));
    } else {
      return UnexpectedReply(
          observer, absl::StrCat("redis script: item ", i, " of type ", e->type));
    }
  }
  ScriptReply out;
  out.values.assign(std::make_move_iterator(items.begin() + 1),
                    std::make_move_iterator(items.end()));
  for (const CodeText& c : kCodes) {
    if (c.text != items.front()) continue;
    if (c.values >= 0 && out.values.size() != static_cast<size_t>(c.values)) {
      return UnexpectedReply(observer,
                             absl::StrCat("redis script: ", items.front(), " with ",
                                          out.values.size(), " values"));
    }
    out.code = c.code;
    return out;
  }
  return UnexpectedReply(observer,
                         absl::StrCat("redis script: unknown code ", items.front()));
}

}  // namespace docshare
