#ifndef DOCSHARE_PIPELINE_UPLOAD_BUFFER_H_
#define DOCSHARE_PIPELINE_UPLOAD_BUFFER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace docshare {

// Collects an upload's chunks and counts bytes as they arrive, so that an
// upload over the limit is refused at once, without reading the rest.
class UploadBuffer {
 public:
  static constexpr size_t kHeadBytes = 4096;

  // `declared_size` 0 means unknown.
  UploadBuffer(uint64_t max_bytes, uint64_t declared_size);

  // Checks `declared_size` against the limit before any byte:
  // REJECT_REASON_FILE_TOO_LARGE (detected mime "").
  absl::Status CheckDeclaredSize() const;
  // Appends a chunk. Over max_bytes: FILE_TOO_LARGE (with `detected_mime`);
  // more than a non-zero declared size: INVALID_ARGUMENT, no reject reason.
  absl::Status Append(std::string_view chunk, std::string_view detected_mime);
  // At the end of the stream: fewer bytes than declared is INVALID_ARGUMENT.
  absl::Status Finish() const;

  // True once kHeadBytes are held.
  bool HeadReady() const { return bytes_.size() >= kHeadBytes; }
  // The first kHeadBytes (or all, if fewer).
  std::string_view head() const;
  const std::string& bytes() const { return bytes_; }
  std::string TakeBytes() { return std::move(bytes_); }
  uint64_t size() const { return bytes_.size(); }

 private:
  uint64_t max_bytes_;
  uint64_t declared_size_;
  std::string bytes_;
};

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_UPLOAD_BUFFER_H_
