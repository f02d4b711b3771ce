#ifndef DOCSHARE_PIPELINE_UPLOAD_BUFFER_H_
#define DOCSHARE_PIPELINE_UPLOAD_BUFFER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "service/common/observer.h"

namespace docshare {

// The bytes of uploads held in memory by the whole server, bounded
// (--max-inflight-upload-bytes): an upload is admitted before its bytes are
// buffered, so unfinished uploads cannot take the process' memory
// (issue 12, attack 6: 20 uploads of 28 MiB took RSS from 45 to 935 MB).
class UploadBudget {
 public:
  // `limit` 0: no limit.
  UploadBudget(uint64_t limit, Observer& observer) : limit_(limit), observer_(observer) {}

  // Bytes reserved from the budget; given back when destroyed.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept { *this = std::move(other); }
    Lease& operator=(Lease&& other) noexcept;
    ~Lease() { Release(); }
    // Reserves `bytes` more. RESOURCE_EXHAUSTED (the one retryable refusal)
    // when the budget cannot take them; nothing is reserved then.
    absl::Status Grow(uint64_t bytes);
    uint64_t bytes() const { return bytes_; }

   private:
    friend class UploadBudget;
    void Release();
    UploadBudget* budget_ = nullptr;
    uint64_t bytes_ = 0;
  };

  Lease NewLease() {
    Lease lease;
    lease.budget_ = this;
    return lease;
  }
  uint64_t in_use() const;

 private:
  absl::Status Take(uint64_t bytes);
  void Give(uint64_t bytes);

  const uint64_t limit_;
  Observer& observer_;
  mutable absl::Mutex mu_;
  uint64_t in_use_ ABSL_GUARDED_BY(mu_) = 0;
};

// Collects an upload's chunks and counts bytes as they arrive, so that an
// upload over the limit is refused at once, without reading the rest.
class UploadBuffer {
 public:
  static constexpr size_t kHeadBytes = 4096;

  // `declared_size` 0 means unknown. With a `budget`, the bytes are reserved
  // from it before they are held: the declared size at once, else each chunk.
  UploadBuffer(uint64_t max_bytes, uint64_t declared_size,
               UploadBudget* budget = nullptr);

  // Checks `declared_size` against the limit before any byte:
  // REJECT_REASON_FILE_TOO_LARGE (detected mime ""); then reserves it from
  // the budget (RESOURCE_EXHAUSTED when the server holds too much already).
  absl::Status CheckDeclaredSize();
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
  // The budget the bytes hold, to keep with them until they are freed.
  UploadBudget::Lease TakeLease() { return std::move(lease_); }
  uint64_t size() const { return bytes_.size(); }

 private:
  uint64_t max_bytes_;
  uint64_t declared_size_;
  UploadBudget::Lease lease_;
  std::string bytes_;
};

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_UPLOAD_BUFFER_H_
