#ifndef DOCSHARE_COMMON_REJECT_H_
#define DOCSHARE_COMMON_REJECT_H_

// A rejection is an absl::Status (INVALID_ARGUMENT) that carries the
// RejectReason and the detected MIME type as payloads. The transport turns
// them into trailing metadata; metrics count them by reason.

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "service/common/types.h"

namespace docshare {

inline constexpr std::string_view kRejectReasonPayload = "docshare/reject-reason";
inline constexpr std::string_view kDetectedMimePayload = "docshare/detected-mime";

absl::Status Reject(RejectReason reason, std::string_view detected_mime,
                    std::string_view message);

// The reason a status carries, or kNone when it is not a rejection.
RejectReason GetRejectReason(const absl::Status& status);
// The detected MIME type a rejection carries ("" if none).
std::string GetDetectedMime(const absl::Status& status);

}  // namespace docshare

#endif  // DOCSHARE_COMMON_REJECT_H_
