#ifndef DOCSHARE_SESSIONS_REDIS_SCRIPTS_H_
#define DOCSHARE_SESSIONS_REDIS_SCRIPTS_H_

// The Redis store's mutations and reads, one Lua script each
// (service/sessions/lua/*.lua, embedded at build time, run after the
// prelude), and their replies parsed once into a flat list of strings.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "service/common/observer.h"
#include "service/sessions/redis_connection.h"

namespace docshare {

// ARGV: id now expired-blob, then each script's own (named in its file's
// first line).
enum class RedisScript {
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
};

// A script's answer: a flat array whose first item is its outcome code
// ("OK", "NOT_FOUND", "STATE", ...), then the code's values.
struct ScriptReply {
  std::vector<std::string> items;
  const std::string& code() const { return items.front(); }
};

// A reply not shaped as expected: the anomaly "unexpected_reply", then
// INTERNAL with `what`.
absl::Status UnexpectedReply(Observer& observer, std::string_view what);

// Runs `script` with `args` on a pooled connection. UNAVAILABLE when Redis
// cannot be reached; an error reply, a reply that is not a non-empty array,
// or an item that is neither a string nor an integer: UnexpectedReply.
absl::StatusOr<ScriptReply> RunScript(RedisPool& pool, RedisScript script,
                                      std::vector<std::string> args, Observer& observer);

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_REDIS_SCRIPTS_H_
