#ifndef DOCSHARE_SESSIONS_EVENT_CODEC_H_
#define DOCSHARE_SESSIONS_EVENT_CODEC_H_

// A SessionEvent as the Redis store keeps it: docshare.internal.StoredEvent
// (proto/docshare/internal/session_event.proto), serialized by protobuf. The
// core links protobuf, never gRPC.
//
// Decode accepts only what Encode can produce: unparsable bytes, an event
// of no kind, an enum out of range or a negative size are
// INVALID_ARGUMENT, never a crash. Protobuf bounds
// every length by the input, so garbage never makes a huge allocation.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "service/common/types.h"

namespace docshare {

std::string EncodeEvent(const SessionEvent& event);
absl::StatusOr<SessionEvent> DecodeEvent(std::string_view bytes);

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_EVENT_CODEC_H_
