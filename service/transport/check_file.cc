#include "service/transport/check_file.h"

#include "absl/strings/str_cat.h"
#include "service/common/reject.h"
#include "service/pipeline/sniff.h"
#include "service/pipeline/upload_buffer.h"
#include "service/transport/convert.h"

namespace docshare {

v1::CheckFileResponse CheckHead(std::string_view head) {
  if (head.size() > UploadBuffer::kHeadBytes)
    head = head.substr(0, UploadBuffer::kHeadBytes);
  v1::CheckFileResponse response;
  absl::StatusOr<SniffResult> sniffed = Sniff(head);
  if (sniffed.ok()) {
    response.set_supported(true);
    response.set_detected_type(ToProto(sniffed->type));
    response.set_detected_mime_type(sniffed->mime);
    response.set_message(absl::StrCat(sniffed->mime, " is supported"));
    return response;
  }
  response.set_supported(false);
  response.set_detected_mime_type(GetDetectedMime(sniffed.status()));
  response.set_reason(ToProto(GetRejectReason(sniffed.status())));
  response.set_message(std::string(sniffed.status().message()));
  return response;
}

}  // namespace docshare
