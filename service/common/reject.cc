#include "service/common/reject.h"

#include "absl/strings/cord.h"

namespace docshare {
namespace {

constexpr RejectReason kAllReasons[] = {
    RejectReason::kUnsupportedType,    RejectReason::kEmptyFile,
    RejectReason::kFileTooLarge,       RejectReason::kDimensionsTooLarge,
    RejectReason::kTooManyFrames,      RejectReason::kCorruptImage,
};

}  // namespace

absl::Status Reject(RejectReason reason, std::string_view detected_mime,
                    std::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kRejectReasonPayload, absl::Cord(RejectReasonName(reason)));
  status.SetPayload(kDetectedMimePayload, absl::Cord(detected_mime));
  return status;
}

RejectReason GetRejectReason(const absl::Status& status) {
  std::optional<absl::Cord> name = status.GetPayload(kRejectReasonPayload);
  if (!name) return RejectReason::kNone;
  for (RejectReason reason : kAllReasons) {
    if (*name == RejectReasonName(reason)) return reason;
  }
  return RejectReason::kNone;
}

std::string GetDetectedMime(const absl::Status& status) {
  std::optional<absl::Cord> mime = status.GetPayload(kDetectedMimePayload);
  return mime ? std::string(*mime) : std::string();
}

}  // namespace docshare
