#include "service/common/reject.h"

#include "absl/strings/cord.h"

namespace docshare {
namespace {

// Debian's abseil is built with its own absl::string_view (not an alias of
// std::string_view), so std::string_view is converted explicitly.
absl::string_view Absl(std::string_view s) { return {s.data(), s.size()}; }

constexpr RejectReason kAllReasons[] = {
    RejectReason::kUnsupportedType, RejectReason::kEmptyFile,
    RejectReason::kFileTooLarge,    RejectReason::kDimensionsTooLarge,
    RejectReason::kTooManyFrames,   RejectReason::kCorruptImage,
};

}  // namespace

absl::Status Reject(RejectReason reason, std::string_view detected_mime,
                    std::string_view message) {
  absl::Status status = absl::InvalidArgumentError(Absl(message));
  status.SetPayload(Absl(kRejectReasonPayload),
                    absl::Cord(Absl(RejectReasonName(reason))));
  status.SetPayload(Absl(kDetectedMimePayload), absl::Cord(Absl(detected_mime)));
  return status;
}

RejectReason GetRejectReason(const absl::Status& status) {
  auto name = status.GetPayload(Absl(kRejectReasonPayload));
  if (!name) return RejectReason::kNone;
  for (RejectReason reason : kAllReasons) {
    if (*name == Absl(RejectReasonName(reason))) return reason;
  }
  return RejectReason::kNone;
}

std::string GetDetectedMime(const absl::Status& status) {
  auto mime = status.GetPayload(Absl(kDetectedMimePayload));
  return mime ? std::string(*mime) : std::string();
}

}  // namespace docshare
