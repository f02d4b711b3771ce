#include "service/sessions/redis_names.h"

#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/sessions/event_codec.h"

namespace docshare {

uint64_t ToU64(std::string_view s) {
  uint64_t v = 0;
  return absl::SimpleAtoi(absl::string_view(s.data(), s.size()), &v) ? v : 0;
}

std::optional<uint64_t> ParseSequence(std::string_view s) {
  uint64_t v = 0;
  if (!absl::SimpleAtoi(absl::string_view(s.data(), s.size()), &v) || v == 0) {
    return std::nullopt;
  }
  return v;
}

int64_t ToI64(std::string_view s) {
  int64_t v = 0;
  return absl::SimpleAtoi(absl::string_view(s.data(), s.size()), &v) ? v : 0;
}

SessionState StateOf(std::string_view s) {
  return s == "active"    ? SessionState::kActive
         : s == "expired" ? SessionState::kExpired
                          : SessionState::kEnded;
}

uint64_t SequenceOfId(std::string_view id) { return ToU64(id.substr(0, id.find('-'))); }

std::string EncodeBody(absl::Time time, EventBody body) {
  SessionEvent event;
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

}  // namespace docshare
