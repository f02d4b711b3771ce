#ifndef DOCSHARE_COMMON_ERROR_INFO_H_
#define DOCSHARE_COMMON_ERROR_INFO_H_

// An error's machine-readable reason and metadata, carried as absl::Status
// payloads; the transport turns them into a google.rpc.ErrorInfo in the
// status details (grpc-status-details-bin). A rejection needs none of this:
// its RejectReason and detected MIME type (common/reject.h) are its reason.

#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace docshare {

// Reasons of errors that are not rejections (README "Errors").
inline constexpr std::string_view kReasonWatcherTooSlow = "WATCHER_TOO_SLOW";
inline constexpr std::string_view kReasonBackplaneLost = "BACKPLANE_UNAVAILABLE";
inline constexpr std::string_view kReasonDraining = "SERVER_DRAINING";
inline constexpr std::string_view kReasonUploadTimeout = "UPLOAD_TIMEOUT";
inline constexpr std::string_view kReasonDocumentNotFound = "DOCUMENT_NOT_FOUND";
inline constexpr std::string_view kReasonDocumentWithdrawn = "DOCUMENT_WITHDRAWN";

struct ErrorInfo {
  std::string reason;  // UPPER_SNAKE_CASE
  std::map<std::string, std::string> metadata;
};

// `status` with `info` attached (replacing any attached before).
absl::Status WithErrorInfo(absl::Status status, const ErrorInfo& info);

// The reason and metadata of a non-OK status: a rejection's RejectReason name
// with `detected_mime_type`; else what WithErrorInfo attached; else the
// canonical code's name (e.g. "NOT_FOUND") with no metadata.
ErrorInfo GetErrorInfo(const absl::Status& status);

}  // namespace docshare

#endif  // DOCSHARE_COMMON_ERROR_INFO_H_
