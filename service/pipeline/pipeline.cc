#include "service/pipeline/pipeline.h"

#include "absl/strings/str_cat.h"
#include "service/common/log.h"
#include "service/common/reject.h"
#include "service/common/status_macros.h"
#include "service/pipeline/authorize.h"
#include "service/pipeline/filename.h"
#include "service/pipeline/publish.h"

namespace docshare {

struct Pipeline::Job {
  ShareRequest request;
  std::string nonce;  // the start of the session the share was authorized for
  Role shared_by;
  SniffResult sniffed;
  std::string bytes;
  ShareRecord record;
  absl::Time started;
  UploadBudget::Lease lease;  // `bytes` count against the in-flight budget
};

namespace {

// Times one stage into the observer and the share's record.
template <typename F>
auto Timed(Observer& observer, const Clock& clock, std::string_view stage,
           absl::Duration& took, F&& f) {
  absl::Time start = clock.Now();
  auto result = f();
  took = clock.Now() - start;
  observer.StageDone(stage, took);
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

Pipeline::Share::~Share() {
  // A share that ends before Finish (a refusal or a broken stream) is
  // reported here; one that reached Finish was reported there.
  if (reported_ || !buffer_) return;
  pipeline_.Report(
      record_,
      last_status_.ok() ? absl::CancelledError("the upload ended early") : last_status_,
      started_);
}

absl::Status Pipeline::Share::Begin(const Caller& caller, ShareRequest request) {
  caller_ = caller;
  request_ = std::move(request);
  record_.session_id = request_.session_id;
  record_.filename = SanitizeFilename(request_.filename);
  ASSIGN_OR_RETURN(
      session_, AuthorizeShare(caller_, request_.session_id, pipeline_.deps_.backplane));
  buffer_.emplace(pipeline_.max_file_bytes_, request_.size_bytes,
                  pipeline_.deps_.upload_budget);
  return Track(buffer_->CheckDeclaredSize());
}

absl::Status Pipeline::Share::AddChunk(std::string_view chunk) {
  if (!buffer_) return absl::FailedPreconditionError("chunk before the header");
  pipeline_.deps_.observer.BytesReceived(chunk.size());
  received_ += chunk.size();
  // Sniff as soon as the head is complete, or before a verdict on the size,
  // which must name the detected type too: the head is what is held plus the
  // start of this chunk.
  const uint64_t after = buffer_->size() + chunk.size();
  if (!sniffed_ &&
      (after >= UploadBuffer::kHeadBytes || after > pipeline_.max_file_bytes_)) {
    std::string head(buffer_->head());
    head.append(chunk.substr(0, UploadBuffer::kHeadBytes - head.size()));
    RETURN_IF_ERROR(SniffHead(head));
  }
  return Track(buffer_->Append(chunk, sniffed_ ? sniffed_->mime : std::string()));
}

absl::Status Pipeline::Share::SniffHead(std::string_view head) {
  Pipeline& p = pipeline_;
  absl::StatusOr<SniffResult> sniffed = Timed(p.deps_.observer, p.deps_.clock, "sniff",
                                              record_.sniff, [&] { return Sniff(head); });
  if (!sniffed.ok()) {
    record_.mime = GetDetectedMime(sniffed.status());
    return Track(sniffed.status());
  }
  sniffed_ = *std::move(sniffed);
  record_.type = sniffed_->type;
  record_.mime = sniffed_->mime;
  return absl::OkStatus();
}

absl::Status Pipeline::Share::Track(absl::Status status) {
  last_status_ = status;
  record_.bytes = received_;
  return status;
}

void Pipeline::Share::Finish(ShareDone done) {
  if (!buffer_) return done(absl::FailedPreconditionError("no header"));
  // A verdict reached here is reported before the caller hears it.
  auto fail = [&](absl::Status s) {
    reported_ = true;
    pipeline_.Report(record_, s, started_);
    done(std::move(s));
  };
  if (absl::Status s = Track(buffer_->Finish()); !s.ok()) return fail(s);
  if (!sniffed_) {
    if (absl::Status s = SniffHead(buffer_->head()); !s.ok()) return fail(s);
  }
  reported_ = true;
  auto job = std::make_shared<Job>(
      Job{std::move(request_), session_.nonce, caller_.claims.role, *sniffed_,
          buffer_->TakeBytes(), record_, started_, buffer_->TakeLease()});
  Pipeline& p = pipeline_;
  // Keyed by session: one session cannot hold more than its share of the pool.
  absl::Status queued = p.deps_.pool.Submit(job->request.session_id, [&p, job, done] {
    absl::StatusOr<Published> result = p.Complete(*job);
    p.Report(job->record, result.status(), job->started);
    done(std::move(result));
  });
  if (!queued.ok()) {  // the pool counted the shed share
    p.Report(job->record, queued, job->started);
    done(queued);
  }
}

absl::StatusOr<Published> Pipeline::Complete(Job& job) {
  Observer& obs = deps_.observer;
  ShareRecord& record = job.record;
  const std::string& mime = job.sniffed.mime;
  // Minted first so the decoder's log lines (GLib's, a worker's) name it. A
  // prefix keeps ids from starting with '-' (base64url may): they are used
  // in file names and on command lines.
  const std::string document_id = "doc_" + RandomToken(12);
  ScopedLogDocument log_document(document_id);
  absl::StatusOr<ImageHeader> header =
      Timed(obs, deps_.clock, "guard", record.guard,
            [&] { return Guard(job.bytes, job.sniffed.type, limits_); });
  if (!header.ok()) return WithMime(header.status(), mime);
  absl::StatusOr<Renditions> renditions =
      Timed(obs, deps_.clock, "render", record.render,
            [&] { return RenderCached(job, *header, record.cache_hit); });
  if (!renditions.ok()) return WithMime(renditions.status(), mime);

  Document doc;
  doc.document_id = document_id;
  doc.session_id = job.request.session_id;
  doc.filename = record.filename;
  doc.source_type = job.sniffed.type;
  doc.source_mime_type = mime;
  doc.source_width = renditions->width;
  doc.source_height = renditions->height;
  doc.frame_count = renditions->frame_count;
  doc.source_bytes = job.bytes.size();
  doc.shared_by = job.shared_by;
  doc.previews = {renditions->thumbnail, renditions->display};
  // On the name participants see: its extension is the one they judge by.
  doc.declared_type_mismatch = DeclaredTypeMismatch(
      job.sniffed.type, job.request.declared_mime_type, doc.filename);
  doc.shared_at = deps_.clock.Now();
  record.document_id = doc.document_id;
  obs.PreviewBytes(doc.PreviewBytes());
  return Timed(obs, deps_.clock, "publish", record.publish,
               [&] { return Publish(deps_.backplane, job.nonce, std::move(doc)); });
}

absl::StatusOr<Renditions> Pipeline::RenderCached(const Job& job,
                                                  const ImageHeader& header, bool& hit) {
  const std::string& bytes = job.bytes;
  const std::string key =
      deps_.cache.KeyFor(absl::StrCat(job.request.session_id, "/", job.nonce), bytes);
  std::optional<Renditions> cached = deps_.cache.Get(key);
  hit = cached.has_value();
  deps_.observer.CacheLookup(hit);
  if (hit) return *std::move(cached);
  ASSIGN_OR_RETURN(Renditions renditions, deps_.renderer.Render(bytes, header));
  deps_.cache.Put(key, renditions);
  return renditions;
}

void Pipeline::Report(ShareRecord record, const absl::Status& status,
                      absl::Time started) {
  record.total = deps_.clock.Now() - started;
  record.reason = GetRejectReason(status);
  record.outcome = status.ok()                            ? "accepted"
                   : record.reason != RejectReason::kNone ? "rejected"
                                                          : "failed";
  if (!status.ok()) record.message = std::string(status.message());
  // Metrics count verdicts on the file; a broken upload or a refusal of the
  // caller is not one (gRPC's own metrics count those by code).
  if (record.outcome != "failed") {
    deps_.observer.ShareDone(record.type, record.reason, status.ok(), record.total);
  }
  deps_.observer.ShareRecorded(record);
}

}  // namespace docshare
