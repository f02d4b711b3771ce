#include "service/pipeline/upload_buffer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/common/reject.h"
#include "service/common/types.h"

namespace docshare {
namespace {

absl::Status TooLarge(std::string_view detected_mime, uint64_t size, uint64_t max_bytes) {
  return Reject(RejectReason::kFileTooLarge, detected_mime,
                absl::StrCat("the file is larger than the limit of ", max_bytes,
                             " bytes (", size, " bytes or more)"));
}

}  // namespace

UploadBudget::Lease& UploadBudget::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    budget_ = std::exchange(other.budget_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

absl::Status UploadBudget::Lease::Grow(uint64_t bytes) {
  if (budget_ == nullptr || bytes == 0) return absl::OkStatus();
  absl::Status taken = budget_->Take(bytes);
  if (taken.ok()) bytes_ += bytes;
  return taken;
}

void UploadBudget::Lease::Release() {
  if (budget_ != nullptr && bytes_ != 0) budget_->Give(bytes_);
  bytes_ = 0;
}

uint64_t UploadBudget::in_use() const {
  absl::MutexLock lock(&mu_);
  return in_use_;
}

absl::Status UploadBudget::Take(uint64_t bytes) {
  uint64_t now = 0;
  {
    absl::MutexLock lock(&mu_);
    if (limit_ != 0 && in_use_ + bytes > limit_) {
      observer_.AdmissionRefused("inflight_upload_bytes");
      return absl::ResourceExhaustedError(absl::StrCat(
          "the server holds ", in_use_, " bytes of uploads in flight; ", bytes,
          " more would pass --max-inflight-upload-bytes (", limit_, "): retry shortly"));
    }
    in_use_ += bytes;
    now = in_use_;
  }
  observer_.InflightUploadBytes(now);
  return absl::OkStatus();
}

void UploadBudget::Give(uint64_t bytes) {
  uint64_t now = 0;
  {
    absl::MutexLock lock(&mu_);
    in_use_ -= std::min(bytes, in_use_);
    now = in_use_;
  }
  observer_.InflightUploadBytes(now);
}

UploadBuffer::UploadBuffer(uint64_t max_bytes, uint64_t declared_size,
                           UploadBudget* budget)
    : max_bytes_(max_bytes), declared_size_(declared_size) {
  if (budget != nullptr) lease_ = budget->NewLease();
}

absl::Status UploadBuffer::CheckDeclaredSize() {
  if (declared_size_ > max_bytes_) {
    return Reject(RejectReason::kFileTooLarge, "",
                  absl::StrCat("the file is ", declared_size_, " bytes; the limit is ",
                               max_bytes_, " bytes"));
  }
  // Known size: admitted (or not) before the first byte.
  return lease_.Grow(declared_size_);
}

absl::Status UploadBuffer::Append(std::string_view chunk,
                                  std::string_view detected_mime) {
  // Counted before the bytes are copied: an oversized upload never grows the
  // buffer past the limit.
  const uint64_t total = bytes_.size() + uint64_t{chunk.size()};
  if (total > max_bytes_) return TooLarge(detected_mime, total, max_bytes_);
  if (declared_size_ != 0 && total > declared_size_) {
    return absl::InvalidArgumentError(absl::StrCat("the upload sent more bytes (", total,
                                                   ") than its declared size_bytes (",
                                                   declared_size_, ")"));
  }
  // Unknown size: each chunk is admitted before it is copied.
  if (total > lease_.bytes()) {
    if (absl::Status s = lease_.Grow(total - lease_.bytes()); !s.ok()) return s;
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
