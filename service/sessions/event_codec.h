#ifndef DOCSHARE_SESSIONS_EVENT_CODEC_H_
#define DOCSHARE_SESSIONS_EVENT_CODEC_H_

// A compact, self-describing binary encoding of a SessionEvent for the Redis
// backplane (the core links no protobuf). Layout, all integers as LEB128
// varints (signed ones zigzagged), strings as a varint length then bytes:
//
//   'D' 0x01 | sequence | time (unix micros) | kind (1 shared, 2 ended)
//   ended:  reason
//   shared: document_id session_id filename source_type source_mime_type
//           source_width source_height frame_count source_bytes shared_by
//           declared_type_mismatch shared_at previews-count
//           { rendition mime_type width height data }*
//
// Decode accepts only what Encode produces: every length is checked against
// the bytes left, every enum against its range, and trailing bytes are an
// error. Garbage in is INVALID_ARGUMENT, never a crash or a huge allocation.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "service/common/types.h"

namespace docshare {

std::string EncodeEvent(const SessionEvent& event);
absl::StatusOr<SessionEvent> DecodeEvent(std::string_view bytes);

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_EVENT_CODEC_H_
