#include "service/pipeline/pipeline.h"

#include "absl/strings/str_cat.h"
#include "service/common/reject.h"
#include "service/common/status_macros.h"
#include "service/pipeline/authorize.h"
#include "service/pipeline/filename.h"
#include "service/pipeline/publish.h"

namespace docshare {

struct Pipeline::Job {
  ShareRequest request;
  Role shared_by;
  SniffResult sniffed;
  std::string bytes;
  absl::Time started;
};

namespace {

// Times one stage into the observer.
template <typename F>
auto Timed(Observer& observer, const Clock& clock, std::string_view stage, F&& f) {
  absl::Time start = clock.Now();
  auto result = f();
  observer.StageDone(stage, clock.Now() - start);
  return result;
}

// A rejection always names what the bytes were found to be.
absl::Status WithMime(absl::Status status, const std::string& mime) {
  if (GetRejectReason(status) != RejectReason::kNone && GetDetectedMime(status).empty()) {
    return Reject(GetRejectReason(status), mime, std::string(status.message()));
  }
  return status;
}

}  // namespace

Pipeline::Share::Share(Pipeline& pipeline)
    : pipeline_(pipeline), started_(pipeline.deps_.clock.Now()) {}

absl::Status Pipeline::Share::Begin(const Caller& caller, ShareRequest request) {
  caller_ = caller;
  request_ = std::move(request);
  RETURN_IF_ERROR(AuthorizeShare(caller_, request_.session_id, pipeline_.deps_.backplane)
                      .status());
  buffer_.emplace(pipeline_.max_file_bytes_, request_.size_bytes);
  return Verdict(buffer_->CheckDeclaredSize());
}

absl::Status Pipeline::Share::AddChunk(std::string_view chunk) {
  if (!buffer_) return absl::FailedPreconditionError("chunk before the header");
  pipeline_.deps_.observer.BytesReceived(chunk.size());
  RETURN_IF_ERROR(
      Verdict(buffer_->Append(chunk, sniffed_ ? sniffed_->mime : std::string())));
  if (!sniffed_ && buffer_->HeadReady()) return SniffHead();
  return absl::OkStatus();
}

absl::Status Pipeline::Share::SniffHead() {
  Pipeline& p = pipeline_;
  absl::StatusOr<SniffResult> sniffed =
      Timed(p.deps_.observer, p.deps_.clock, "sniff", [&] { return Sniff(buffer_->head()); });
  if (!sniffed.ok()) return Verdict(sniffed.status());
  sniffed_ = *std::move(sniffed);
  return absl::OkStatus();
}

absl::Status Pipeline::Share::Verdict(absl::Status status) {
  if (GetRejectReason(status) != RejectReason::kNone) {
    pipeline_.Report(sniffed_ ? sniffed_->type : FileType::kUnknown, status, started_);
  }
  return status;
}

void Pipeline::Share::Finish(ShareDone done) {
  if (!buffer_) return done(absl::FailedPreconditionError("no header"));
  if (absl::Status s = buffer_->Finish(); !s.ok()) return done(s);
  if (!sniffed_) {
    if (absl::Status s = SniffHead(); !s.ok()) return done(s);
  }
  auto job = std::make_shared<Job>(Job{std::move(request_), caller_.claims.role,
                                       *sniffed_, buffer_->TakeBytes(), started_});
  Pipeline& p = pipeline_;
  absl::Status queued = p.deps_.pool.Submit([&p, job, done] {
    absl::StatusOr<std::shared_ptr<const Document>> result = p.Complete(*job);
    p.Report(job->sniffed.type, result.status(), job->started);
    done(std::move(result));
  });
  if (!queued.ok()) done(queued);  // the pool counted the shed share
}

absl::StatusOr<std::shared_ptr<const Document>> Pipeline::Complete(Job& job) {
  Observer& obs = deps_.observer;
  const std::string& mime = job.sniffed.mime;
  absl::StatusOr<ImageHeader> header = Timed(obs, deps_.clock, "guard", [&] {
    return Guard(job.bytes, job.sniffed.type, limits_);
  });
  if (!header.ok()) return WithMime(header.status(), mime);
  absl::StatusOr<Renditions> renditions = Timed(obs, deps_.clock, "render", [&] {
    return RenderCached(job.bytes, *header);
  });
  if (!renditions.ok()) return WithMime(renditions.status(), mime);

  Document doc;
  doc.document_id = RandomToken(12);
  doc.session_id = job.request.session_id;
  doc.filename = SanitizeFilename(job.request.filename);
  doc.source_type = job.sniffed.type;
  doc.source_mime_type = mime;
  doc.source_width = renditions->width;
  doc.source_height = renditions->height;
  doc.frame_count = renditions->frame_count;
  doc.source_bytes = job.bytes.size();
  doc.shared_by = job.shared_by;
  doc.previews = {renditions->thumbnail, renditions->display};
  doc.declared_type_mismatch = DeclaredTypeMismatch(
      job.sniffed.type, job.request.declared_mime_type, job.request.filename);
  doc.shared_at = deps_.clock.Now();
  obs.PreviewBytes(doc.PreviewBytes());
  return Timed(obs, deps_.clock, "publish",
               [&] { return Publish(deps_.backplane, std::move(doc)); });
}

absl::StatusOr<Renditions> Pipeline::RenderCached(const std::string& bytes,
                                                  const ImageHeader& header) {
  const std::string key = PreviewCache::Key(bytes);
  if (std::optional<Renditions> cached = deps_.cache.Get(key)) {
    deps_.observer.CacheLookup(true);
    return *std::move(cached);
  }
  deps_.observer.CacheLookup(false);
  ASSIGN_OR_RETURN(Renditions renditions, deps_.renderer.Render(bytes, header));
  deps_.cache.Put(key, renditions);
  return renditions;
}

void Pipeline::Report(FileType type, const absl::Status& status, absl::Time started) {
  const RejectReason reason = GetRejectReason(status);
  if (!status.ok() && reason == RejectReason::kNone) return;  // not a verdict on the file
  deps_.observer.ShareDone(type, reason, status.ok(), deps_.clock.Now() - started);
}

}  // namespace docshare
