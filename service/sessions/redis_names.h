#ifndef DOCSHARE_SESSIONS_REDIS_NAMES_H_
#define DOCSHARE_SESSIONS_REDIS_NAMES_H_

// What the Redis store and its Pub/Sub loop both read: the channel names
// (redis_store.h lists every key) and the decoding of numbers and events
// as Redis holds them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/common/types.h"
#include "service/sessions/session_store.h"

namespace docshare {

// docshare:events:<id>: "<nonce> <seq> <EncodeEvent>", or "<nonce> <seq>"
// for a document (its previews are read from the log).
inline constexpr std::string_view kEventsChannelPrefix = "docshare:events:";
// docshare:purge:<id>: a withdrawn document's preview SHA-256s.
inline constexpr std::string_view kPurgeChannelPrefix = "docshare:purge:";

// A decimal Redis wrote (a script's reply, a hash field); 0 if it is not one.
uint64_t ToU64(std::string_view s);
// A sequence from outside our scripts' replies (a Pub/Sub message): a
// positive decimal number, or nothing.
std::optional<uint64_t> ParseSequence(std::string_view s);
int64_t ToI64(std::string_view s);

// A session hash's state field ("active", "ended", "expired").
SessionState StateOf(std::string_view s);

// A stream entry ID "<seq>-1" to its sequence.
uint64_t SequenceOfId(std::string_view id);

// An event's bytes as stored: the sequence is Redis's, carried beside them.
std::string EncodeBody(absl::Time time, EventBody body);
// INTERNAL when the bytes do not decode (the caller counts the anomaly).
absl::StatusOr<EventPtr> DecodeWithSequence(std::string_view bytes, uint64_t sequence);

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_REDIS_NAMES_H_
