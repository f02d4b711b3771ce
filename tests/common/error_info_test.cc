#include "service/common/error_info.h"

#include "gtest/gtest.h"
#include "service/common/reject.h"

namespace docshare {
namespace {

using Metadata = std::map<std::string, std::string>;

TEST(ErrorInfo, ARejectionIsItsReasonWithTheDetectedMime) {
  const ErrorInfo info = GetErrorInfo(
      Reject(RejectReason::kUnsupportedType, "application/pdf", "PDF is not supported"));
  EXPECT_EQ(info.reason, "REJECT_REASON_UNSUPPORTED_TYPE");
  EXPECT_EQ(info.metadata, (Metadata{{"detected_mime_type", "application/pdf"}}));
}

TEST(ErrorInfo, AnAttachedReasonAndMetadataComeBack) {
  const absl::Status status =
      WithErrorInfo(absl::ResourceExhaustedError("too slow"),
                    {"WATCHER_TOO_SLOW", {{"resume_after", "7"}}});
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "too slow");
  const ErrorInfo info = GetErrorInfo(status);
  EXPECT_EQ(info.reason, "WATCHER_TOO_SLOW");
  EXPECT_EQ(info.metadata, (Metadata{{"resume_after", "7"}}));
}

TEST(ErrorInfo, AttachingAgainReplacesTheMetadata) {
  absl::Status status = WithErrorInfo(absl::UnavailableError("x"),
                                      {"SERVER_DRAINING", {{"resume_after", "3"}}});
  status = WithErrorInfo(status, {"BACKPLANE_UNAVAILABLE", {{"other", "1"}}});
  const ErrorInfo info = GetErrorInfo(status);
  EXPECT_EQ(info.reason, "BACKPLANE_UNAVAILABLE");
  EXPECT_EQ(info.metadata, (Metadata{{"other", "1"}}));
}

TEST(ErrorInfo, WithoutOneTheReasonIsTheCodesName) {
  EXPECT_EQ(GetErrorInfo(absl::NotFoundError("no such session")).reason, "NOT_FOUND");
  EXPECT_EQ(GetErrorInfo(absl::FailedPreconditionError("ended")).reason,
            "FAILED_PRECONDITION");
  EXPECT_TRUE(GetErrorInfo(absl::UnauthenticatedError("no token")).metadata.empty());
}

TEST(ErrorInfo, AnOkStatusGetsNothingAttached) {
  EXPECT_TRUE(WithErrorInfo(absl::OkStatus(), {"X", {}}).ok());
}

}  // namespace
}  // namespace docshare
