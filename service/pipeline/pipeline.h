#ifndef DOCSHARE_PIPELINE_PIPELINE_H_
#define DOCSHARE_PIPELINE_PIPELINE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "service/auth/tokens.h"
#include "service/common/clock.h"
#include "service/common/observer.h"
#include "service/pipeline/guard.h"
#include "service/pipeline/preview_cache.h"
#include "service/pipeline/publish.h"
#include "service/pipeline/render.h"
#include "service/pipeline/render_pool.h"
#include "service/pipeline/sniff.h"
#include "service/pipeline/upload_buffer.h"
#include "service/sessions/session_store.h"

namespace docshare {

// What the uploader says about the file before its bytes.
struct ShareRequest {
  std::string session_id;
  std::string filename;
  std::string declared_mime_type;
  uint64_t size_bytes = 0;  // 0: unknown
};

using ShareDone = std::function<void(absl::StatusOr<Published>)>;

// The share pipeline: authorize, sniff, guard, render, publish. The one
// place that lists the stages in order (Share::Begin, Share::AddChunk,
// Pipeline::Complete).
class Pipeline {
 public:
  struct Deps {
    SessionStore& backplane;
    Renderer& renderer;
    RenderPool& pool;
    PreviewCache& cache;
    Observer& observer;
    const Clock& clock;
    UploadBudget* upload_budget = nullptr;  // --max-inflight-upload-bytes; null: none
  };

  Pipeline(Deps deps, Limits limits, uint64_t max_file_bytes)
      : deps_(deps), limits_(limits), max_file_bytes_(max_file_bytes) {}

  // One upload in progress, fed by the transport as its messages arrive.
  // Not thread-safe: one caller at a time (the RPC's reactor).
  class Share {
   public:
    // authorize, then the declared size: before any byte is read.
    absl::Status Begin(const Caller& caller, ShareRequest request);
    // Counts the bytes; sniffs as soon as 4 KiB are held, so an unsupported
    // type is refused after the first chunk at most.
    absl::Status AddChunk(std::string_view chunk);
    // The stream ended: sniff (if not yet), then guard, render and publish
    // on the render pool. `done` runs exactly once, on a pool thread (or at
    // once for a verdict reached here, or RESOURCE_EXHAUSTED when the pool
    // is full).
    void Finish(ShareDone done);
    // The start of the session Begin authorized (its nonce and expiry sign
    // the previews' URLs).
    const SessionInfo& session() const { return session_; }

    ~Share();

   private:
    friend class Pipeline;
    explicit Share(Pipeline& pipeline);
    absl::Status SniffHead(std::string_view head);
    absl::Status Track(absl::Status status);  // remembers the latest outcome

    Pipeline& pipeline_;
    absl::Time started_;
    Caller caller_;
    ShareRequest request_;
    SessionInfo session_;  // the session start AuthorizeShare found
    std::optional<UploadBuffer> buffer_;
    std::optional<SniffResult> sniffed_;
    ShareRecord record_;
    absl::Status last_status_;
    uint64_t received_ = 0;  // chunk bytes off the wire, held or not
    bool reported_ = false;
  };

  std::unique_ptr<Share> NewShare() { return std::unique_ptr<Share>(new Share(*this)); }

 private:
  struct Job;
  // On a render worker: guard, render (or the cache), publish.
  absl::StatusOr<Published> Complete(Job& job);
  absl::StatusOr<Renditions> RenderCached(const Job& job, const ImageHeader& header,
                                          bool& hit);
  // The share's verdict to metrics and the log.
  void Report(ShareRecord record, const absl::Status& status, absl::Time started);

  Deps deps_;
  Limits limits_;
  uint64_t max_file_bytes_;
};

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_PIPELINE_H_
