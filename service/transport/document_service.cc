#include <mutex>

#include "absl/strings/str_cat.h"
#include "grpcpp/alarm.h"
#include "service/common/reject.h"
#include "service/common/status_macros.h"
#include "service/pipeline/sniff.h"
#include "service/pipeline/upload_buffer.h"
#include "service/transport/convert.h"
#include "service/transport/services.h"
#include "service/transport/status.h"

namespace docshare {
namespace {

// One ShareDocument stream: the header, then chunks, each handed to the
// pipeline as it arrives; the verdict comes back from the render pool.
class ShareReactor final : public grpc::ServerReadReactor<v1::ShareDocumentRequest> {
 public:
  ShareReactor(grpc::CallbackServerContext* context, v1::ShareDocumentResponse* response,
               const ServiceDeps& deps, StreamSet& streams)
      : context_(context), response_(response), deps_(deps), streams_(streams) {
    if (!streams_.BeginCall()) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is draining"));
      return;
    }
    counted_ = true;
    absl::StatusOr<Caller> caller = CallerOf(*context_, deps_);
    if (!caller.ok()) {
      Finish(ToGrpcStatus(caller.status()));
      return;
    }
    caller_ = *std::move(caller);
    share_ = deps_.pipeline.NewShare();
    // A stalled upload (slowloris) is cut off after --upload-timeout.
    guard_ = std::make_shared<Guard>();
    guard_->reactor = this;
    deadline_.Set(std::chrono::system_clock::now() + absl::ToChronoSeconds(deps_.upload_timeout),
                  [guard = guard_](bool fired) {
                    std::lock_guard lock(guard->mu);
                    if (fired && guard->reactor != nullptr) guard->reactor->TimedOut();
                  });
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (finished()) return;
    if (!ok) return EndOfStream();
    absl::Status status = Consume();
    if (!status.ok()) {
      share_.reset();  // reports the verdict (metrics, log) before the client hears it
      return FinishOnce(ToGrpcStatus(status, context_));
    }
    StartRead(&request_);
  }

  // Shares already received finish when the server drains; only its
  // shutdown deadline cuts them off.
  void OnDone() override {
    if (guard_) {
      std::lock_guard lock(guard_->mu);
      guard_->reactor = nullptr;
    }
    deadline_.Cancel();
    share_.reset();  // reports a share that ended early
    if (counted_) streams_.EndCall();
    delete this;
  }

 private:
  absl::Status Consume() {
    if (!begun_) {
      if (!request_.has_header()) {
        return absl::InvalidArgumentError("the first message must be the ShareHeader");
      }
      begun_ = true;
      const v1::ShareHeader& h = request_.header();
      return share_->Begin(caller_, {h.session_id(), h.filename(), h.declared_mime_type(),
                                     h.size_bytes()});
    }
    if (request_.has_header()) {
      return absl::InvalidArgumentError("only the first message may be a ShareHeader");
    }
    return share_->AddChunk(request_.chunk());
  }

  void EndOfStream() {
    if (!begun_) {
      return FinishOnce(ToGrpcStatus(
          absl::InvalidArgumentError("the stream ended before the ShareHeader"), context_));
    }
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      uploaded_ = true;  // the upload deadline no longer applies
    }
    share_->Finish([this](absl::StatusOr<std::shared_ptr<const Document>> result) {
      if (!result.ok()) return FinishOnce(ToGrpcStatus(result.status(), context_));
      ToProto(**result, WithData::kNo, response_->mutable_document());
      FinishOnce(grpc::Status::OK);
    });
  }

  void TimedOut() {
    {
      std::lock_guard lock(mu_);
      if (uploaded_ || finished_) return;
    }
    deps_.log.Warn("upload_timeout", {{"peer", context_->peer()},
                                      {"timeout_s", absl::ToInt64Seconds(deps_.upload_timeout)}});
    FinishOnce(grpc::Status(
        grpc::StatusCode::DEADLINE_EXCEEDED,
        absl::StrCat("the upload took longer than ", absl::ToInt64Seconds(deps_.upload_timeout),
                     " s and was cut off")));
  }

  bool finished() {
    std::lock_guard lock(mu_);
    return finished_;
  }

  void FinishOnce(const grpc::Status& status) {
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      finished_ = true;
    }
    Finish(status);
  }

  // Shared with the deadline's callback, which may outlive the reactor.
  struct Guard {
    std::recursive_mutex mu;
    ShareReactor* reactor = nullptr;
  };

  grpc::CallbackServerContext* context_;
  v1::ShareDocumentResponse* response_;
  const ServiceDeps& deps_;
  StreamSet& streams_;
  Caller caller_;
  std::unique_ptr<Pipeline::Share> share_;
  v1::ShareDocumentRequest request_;
  bool begun_ = false;
  bool counted_ = false;
  std::shared_ptr<Guard> guard_;
  grpc::Alarm deadline_;
  std::mutex mu_;
  bool finished_ = false;
  bool uploaded_ = false;
};

absl::Status Check(const grpc::CallbackServerContext& context, const ServiceDeps& deps,
                   const v1::CheckFileRequest& request, v1::CheckFileResponse& response) {
  RETURN_IF_ERROR(CallerOf(context, deps).status());
  std::string_view head = request.head();
  if (head.size() > UploadBuffer::kHeadBytes) head = head.substr(0, UploadBuffer::kHeadBytes);
  absl::StatusOr<SniffResult> sniffed = Sniff(head);
  if (sniffed.ok()) {
    response.set_supported(true);
    response.set_detected_type(ToProto(sniffed->type));
    response.set_detected_mime_type(sniffed->mime);
    response.set_message(absl::StrCat(sniffed->mime, " is supported"));
    return absl::OkStatus();
  }
  response.set_supported(false);
  response.set_detected_mime_type(GetDetectedMime(sniffed.status()));
  response.set_reason(ToProto(GetRejectReason(sniffed.status())));
  response.set_message(std::string(sniffed.status().message()));
  return absl::OkStatus();
}

}  // namespace

grpc::ServerUnaryReactor* DocumentServiceImpl::CheckFile(grpc::CallbackServerContext* context,
                                                         const v1::CheckFileRequest* request,
                                                         v1::CheckFileResponse* response) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(streams_.draining()
                                   ? absl::UnavailableError("the server is draining")
                                   : Check(*context, deps_, *request, *response)));
  return reactor;
}

grpc::ServerReadReactor<v1::ShareDocumentRequest>* DocumentServiceImpl::ShareDocument(
    grpc::CallbackServerContext* context, v1::ShareDocumentResponse* response) {
  return new ShareReactor(context, response, deps_, streams_);
}

}  // namespace docshare
