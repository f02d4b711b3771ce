#include "service/common/error_info.h"

#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/common/reject.h"

namespace docshare {
namespace {

constexpr absl::string_view kReasonPayload = "docshare/error-reason";
constexpr absl::string_view kMetadataPrefix = "docshare/error-metadata/";

absl::string_view Absl(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace

absl::Status WithErrorInfo(absl::Status status, const ErrorInfo& info) {
  if (status.ok()) return status;
  std::vector<std::string> stale;
  status.ForEachPayload([&](absl::string_view url, const absl::Cord&) {
    if (absl::StartsWith(url, kMetadataPrefix)) stale.emplace_back(url);
  });
  for (const std::string& url : stale) status.ErasePayload(url);
  status.SetPayload(kReasonPayload, absl::Cord(Absl(info.reason)));
  for (const auto& [key, value] : info.metadata) {
    status.SetPayload(absl::StrCat(kMetadataPrefix, Absl(key)), absl::Cord(Absl(value)));
  }
  return status;
}

ErrorInfo GetErrorInfo(const absl::Status& status) {
  ErrorInfo info;
  if (const RejectReason reject = GetRejectReason(status);
      reject != RejectReason::kNone) {
    info.reason = std::string(RejectReasonName(reject));
    info.metadata["detected_mime_type"] = GetDetectedMime(status);
    return info;
  }
  if (auto reason = status.GetPayload(kReasonPayload)) {
    info.reason = std::string(*reason);
    status.ForEachPayload([&](absl::string_view url, const absl::Cord& value) {
      if (absl::StartsWith(url, kMetadataPrefix)) {
        info.metadata[std::string(url.substr(kMetadataPrefix.size()))] =
            std::string(value);
      }
    });
    return info;
  }
  info.reason = absl::StatusCodeToString(status.code());
  return info;
}

}  // namespace docshare
