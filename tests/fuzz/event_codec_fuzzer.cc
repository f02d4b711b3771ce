// DecodeEvent on arbitrary bytes (what another replica, or anyone who can
// write to Redis, publishes). Whatever decodes must encode to bytes that
// decode to the same encoding again.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "service/sessions/event_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<docshare::SessionEvent> event = docshare::DecodeEvent(bytes);
  if (!event.ok()) return 0;
  const std::string encoded = docshare::EncodeEvent(*event);
  const absl::StatusOr<docshare::SessionEvent> again = docshare::DecodeEvent(encoded);
  if (!again.ok() || docshare::EncodeEvent(*again) != encoded) {
    std::fprintf(stderr, "an encoded event does not decode to itself\n");
    std::abort();
  }
  return 0;
}
