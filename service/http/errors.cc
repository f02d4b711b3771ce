#include "service/http/errors.h"

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "service/common/error_info.h"
#include "service/common/reject.h"

namespace docshare {
namespace {

constexpr char kCallerLimitPayload[] = "docshare.http/caller-limit";

int StatusCodeOf(const absl::Status& status, RejectReason reason) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      switch (reason) {
        case RejectReason::kNone:
          return 400;
        case RejectReason::kFileTooLarge:
          return 413;
        case RejectReason::kUnsupportedType:
          return 415;
        case RejectReason::kEmptyFile:
        case RejectReason::kDimensionsTooLarge:
        case RejectReason::kTooManyFrames:
        case RejectReason::kCorruptImage:
          return 422;
      }
      return 422;
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kCancelled:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kDeadlineExceeded:
      return 408;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kOk:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
    default:
      return 500;
  }
}

// The ErrorInfo reason attached to `status` (WithErrorInfo), or "" (the
// canonical code's name is already the JSON's `code`).
std::string AttachedReason(const absl::Status& status) {
  std::string reason = GetErrorInfo(status).reason;
  return reason == absl::StatusCodeToString(status.code()) ? "" : reason;
}

}  // namespace

absl::Status CallerLimit(absl::Status status) {
  status.SetPayload(kCallerLimitPayload, absl::Cord("1"));
  return status;
}

HttpError ToHttpError(const absl::Status& status) {
  const RejectReason reason = GetRejectReason(status);
  const std::string info_reason = AttachedReason(status);
  google::protobuf::Struct body;
  auto& fields = *body.mutable_fields();
  fields["code"].set_string_value(absl::StatusCodeToString(status.code()));
  fields["message"].set_string_value(std::string(status.message()));
  fields["reason"].set_string_value(info_reason);
  fields["detectedMimeType"].set_string_value(GetDetectedMime(status));
  HttpError error;
  error.status = StatusCodeOf(status, reason);
  if (status.GetPayload(kCallerLimitPayload)) error.status = 429;
  // A withdrawn document is gone for good, not a session that ended.
  if (info_reason == kReasonDocumentWithdrawn) error.status = 410;
  error.retry_later = error.status == 503 || error.status == 429;
  if (!google::protobuf::util::MessageToJsonString(body, &error.json).ok()) {
    error.json = R"({"code":"INTERNAL","message":"","reason":"","detectedMimeType":""})";
  }
  return error;
}

}  // namespace docshare
