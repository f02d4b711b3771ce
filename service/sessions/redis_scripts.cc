#include "service/sessions/redis_scripts.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "service/sessions/lua_scripts.h"

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

}  // namespace

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
  ScriptReply out;
  for (size_t i = 0; i < reply.elements; ++i) {
    const redisReply* e = reply.element[i];
    if (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) {
      out.items.emplace_back(e->str, e->len);
    } else if (e->type == REDIS_REPLY_INTEGER) {
      out.items.push_back(std::to_string(e->integer));
    } else {
      return UnexpectedReply(
          observer, absl::StrCat("redis script: item ", i, " of type ", e->type));
    }
  }
  return out;
}

}  // namespace docshare
