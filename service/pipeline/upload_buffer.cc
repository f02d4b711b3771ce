#include "service/pipeline/upload_buffer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "service/common/reject.h"
#include "service/common/types.h"

namespace docshare {
namespace {

absl::Status TooLarge(std::string_view detected_mime, uint64_t size,
                      uint64_t max_bytes) {
  return Reject(RejectReason::kFileTooLarge, detected_mime,
                absl::StrCat("the file is larger than the limit of ", max_bytes,
                             " bytes (", size, " bytes or more)"));
}

}  // namespace

UploadBuffer::UploadBuffer(uint64_t max_bytes, uint64_t declared_size)
    : max_bytes_(max_bytes), declared_size_(declared_size) {}

absl::Status UploadBuffer::CheckDeclaredSize() const {
  if (declared_size_ > max_bytes_) {
    return Reject(RejectReason::kFileTooLarge, "",
                  absl::StrCat("the file is ", declared_size_,
                               " bytes; the limit is ", max_bytes_, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status UploadBuffer::Append(std::string_view chunk,
                                  std::string_view detected_mime) {
  // Counted before the bytes are copied: an oversized upload never grows the
  // buffer past the limit.
  const uint64_t total = bytes_.size() + uint64_t{chunk.size()};
  if (total > max_bytes_) return TooLarge(detected_mime, total, max_bytes_);
  if (declared_size_ != 0 && total > declared_size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("the upload sent more bytes (", total,
                     ") than its declared size_bytes (", declared_size_, ")"));
  }
  bytes_.append(chunk);
  return absl::OkStatus();
}

absl::Status UploadBuffer::Finish() const {
  if (declared_size_ != 0 && bytes_.size() != declared_size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("the upload ended after ", bytes_.size(),
                     " bytes; its declared size_bytes is ", declared_size_));
  }
  return absl::OkStatus();
}

std::string_view UploadBuffer::head() const {
  return std::string_view(bytes_).substr(0, std::min(bytes_.size(), kHeadBytes));
}

}  // namespace docshare
