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

// A script's outcome: the first item of its reply (the text in the .lua
// files: "OK", "NOT_FOUND", "STATE", ...).
enum class ScriptCode {
  kOk,
  kNotFound,      // no such session (never started, or forgotten)
  kState,         // the session is not active: [state]
  kStartedAgain,  // the nonce is of an earlier start of the id
  kExists,        // Start with other settings: [ttl ms, consumer may share]
  kRange,         // after_sequence beyond the log: [last sequence]
  kDocs,          // --max-documents: [documents]
  kSessionBytes,  // --max-session-bytes: [bytes held]
  kRetained,      // --max-retained-bytes: [bytes held]
  kNoDoc,         // no such document in the session
  kDenied,        // not the role that shared it: [its role]
  kWithdrawn,     // the document is withdrawn
  kAlready,       // done before: no second event
  kLost,          // a shared document's log entry is gone
};

// A script's reply parsed once: the code, and its values (the items after
// it). RunScript checks that an error code carries as many values as the
// scripts give it; the OK values, which differ by script, the caller checks
// (Values).
struct ScriptReply {
  ScriptCode code = ScriptCode::kOk;
  std::vector<std::string> values;
};

// A reply not shaped as expected: the anomaly "unexpected_reply", then
// INTERNAL with `what`.
absl::Status UnexpectedReply(Observer& observer, std::string_view what);

// The session errors every script may answer: kNotFound, kState and
// kStartedAgain as their statuses (sessions/errors.h); OK for any other
// code.
absl::Status SessionErrorOf(const ScriptReply& reply, std::string_view id);

// Runs `script` with `args` on a pooled connection. UNAVAILABLE when Redis
// cannot be reached; an error reply, a reply that is not a non-empty array,
// an item that is neither a string nor an integer, an unknown code or one
// with the wrong number of values: UnexpectedReply.
absl::StatusOr<ScriptReply> RunScript(RedisPool& pool, RedisScript script,
                                      std::vector<std::string> args, Observer& observer);

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_REDIS_SCRIPTS_H_
