#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/alarm.h"
#include "service/common/error_info.h"
#include "service/common/reject.h"
#include "service/common/status_macros.h"
#include "service/pipeline/authorize.h"
#include "service/pipeline/sniff.h"
#include "service/pipeline/upload_buffer.h"
#include "service/sessions/errors.h"
#include "service/transport/check_file.h"
#include "service/transport/convert.h"
#include "service/transport/handoff.h"
#include "service/transport/lifecycle.h"
#include "service/transport/services.h"
#include "service/transport/status.h"

namespace docshare {
namespace {

absl::Status AdmitShare(const ServiceDeps& deps, const Caller& caller) {
  if (deps.admission == nullptr) return absl::OkStatus();
  return deps.admission->AllowShare(TokenKey(caller));
}

ShareRequest RequestOf(const v1::ShareHeader& h) {
  return {h.session_id(), h.filename(), h.declared_mime_type(), h.size_bytes()};
}

// One ShareDocument stream: the header, then chunks, each handed to the
// pipeline as it arrives; the verdict comes back from the render pool.
class ShareReactor final : public grpc::ServerReadReactor<v1::ShareDocumentRequest> {
 public:
  ShareReactor(grpc::CallbackServerContext* context, v1::ShareDocumentResponse* response,
               const ServiceDeps& deps, StreamSet& streams)
      : context_(context), response_(response), deps_(deps), streams_(streams) {
    if (!streams_.BeginCall()) {
      HandOff(this);
      Finish(ToGrpcStatus(DrainingError()));
      return;
    }
    counted_ = true;
    absl::StatusOr<Caller> caller = CallerOf(*context_, deps_);
    if (!caller.ok()) {
      HandOff(this);
      Finish(ToGrpcStatus(caller.status()));
      return;
    }
    caller_ = *std::move(caller);
    if (absl::Status s = AdmitShare(deps_, caller_); !s.ok()) {
      HandOff(this);
      Finish(ToGrpcStatus(s));
      return;
    }
    share_ = deps_.pipeline.NewShare();
    // A stalled upload (slowloris) is cut off after --upload-timeout.
    guard_ = std::make_shared<Guard>(this);
    deadline_.Set(
        std::chrono::system_clock::now() + absl::ToChronoSeconds(deps_.upload_timeout),
        [guard = guard_](bool fired) {
          if (fired) guard->Fire();
        });
    HandOff(this);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    TakeOver(this);
    if (finished()) return;
    if (!ok) return EndOfStream();
    if (!begun_ && request_.has_header()) return BeginOffThread();
    absl::Status status = Consume();
    if (!status.ok()) {
      share_.reset();  // reports the verdict (metrics, log) before the client hears it
      return FinishOnce(ToGrpcStatus(status, context_));
    }
    HandOff(this);
    StartRead(&request_);
  }

  // Shares already received finish when the server drains; only its
  // shutdown deadline cuts them off.
  void OnDone() override {
    TakeOver(this);
    {  // the header's Begin may still be returning on a store thread
      absl::MutexLock lock(&mu_);
      auto begin_returned = [this]()
                                ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !in_begin_; };
      mu_.Await(absl::Condition(&begin_returned));
    }
    if (guard_) guard_->Detach();
    deadline_.Cancel();
    share_.reset();  // reports a share that ended early
    if (counted_) streams_.EndCall();
    delete this;
  }

 private:
  // The header authorizes the share against the store (a Redis round trip
  // with --backplane=redis): dispatched to the store, never waiting on this
  // callback thread (the memory store runs it here at once). The next read
  // starts when it is done. A deadline or drain meanwhile may finish the
  // call; OnDone then waits for the dispatched call to return.
  void BeginOffThread() {
    begun_ = true;
    {
      absl::MutexLock lock(&mu_);
      in_begin_ = true;
    }
    auto begin = [this, request = RequestOf(request_.header())] {
      absl::Status status = share_->Begin(caller_, request);
      if (!status.ok()) {
        share_.reset();  // reports the verdict before the client hears it
        FinishOnce(ToGrpcStatus(status, context_));
      } else if (!finished()) {
        HandOff(this);
        StartRead(&request_);
      }
      absl::MutexLock lock(&mu_);  // the last use of `this` here
      in_begin_ = false;           // wakes OnDone's Await
    };
    if (!deps_.backplane.Dispatch(begin)) {
      {
        absl::MutexLock lock(&mu_);
        in_begin_ = false;
      }
      share_.reset();
      FinishOnce(ToGrpcStatus(StoreBusy()));
    }
  }

  absl::Status Consume() {
    if (!begun_) {
      if (!request_.has_header()) {
        return absl::InvalidArgumentError("the first message must be the ShareHeader");
      }
      begun_ = true;
      return share_->Begin(caller_, RequestOf(request_.header()));
    }
    if (request_.has_header()) {
      return absl::InvalidArgumentError("only the first message may be a ShareHeader");
    }
    return share_->AddChunk(request_.chunk());
  }

  void EndOfStream() {
    if (!begun_) {
      return FinishOnce(ToGrpcStatus(
          absl::InvalidArgumentError("the stream ended before the ShareHeader"),
          context_));
    }
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      uploaded_ = true;  // the upload deadline no longer applies
    }
    share_->Finish([this](absl::StatusOr<Published> result) {
      if (!result.ok()) return FinishOnce(ToGrpcStatus(result.status(), context_));
      ToProto(*result->document, WithData::kNo, response_->mutable_document());
      FinishOnce(grpc::Status::OK);
    });
  }

  void TimedOut() {
    {
      absl::MutexLock lock(&mu_);
      if (uploaded_ || finished_) return;
    }
    deps_.log.Warn("upload_timeout",
                   {{"peer", context_->peer()},
                    {"timeout_s", absl::ToInt64Seconds(deps_.upload_timeout)}});
    FinishOnce(ToGrpcStatus(WithErrorInfo(
        absl::DeadlineExceededError(absl::StrCat(
            "the upload took longer than ", absl::ToInt64Seconds(deps_.upload_timeout),
            " s and was cut off")),
        {std::string(kReasonUploadTimeout), {}})));
  }

  bool finished() {
    absl::MutexLock lock(&mu_);
    return finished_;
  }

  void FinishOnce(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
    }
    HandOff(this);
    Finish(status);
  }

  // Shared with the deadline's callback, which may outlive the reactor.
  class Guard {
   public:
    explicit Guard(ShareReactor* reactor) : reactor_(reactor) {}
    // The deadline fired: the reactor times the upload out unless OnDone
    // detached it first.
    void Fire() {
      ShareReactor* reactor;
      {
        absl::MutexLock lock(&mu_);
        if (reactor_ == nullptr) return;
        reactor = reactor_;
        firing_ = std::this_thread::get_id();
      }
      reactor->TimedOut();  // may finish the call; OnDone waits in Detach
      absl::MutexLock lock(&mu_);
      firing_.reset();
    }
    // From OnDone: no Fire reaches the reactor after this returns. Waits for
    // one in progress on another thread (on this one, gRPC ran OnDone inline
    // from the Finish that TimedOut called, which returns straight after).
    void Detach() {
      absl::MutexLock lock(&mu_);
      reactor_ = nullptr;
      const std::thread::id self = std::this_thread::get_id();
      auto idle = [this, self]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return !firing_.has_value() || *firing_ == self;
      };
      mu_.Await(absl::Condition(&idle));
    }

   private:
    absl::Mutex mu_;
    ShareReactor* reactor_ ABSL_GUARDED_BY(mu_);
    std::optional<std::thread::id> firing_ ABSL_GUARDED_BY(mu_);
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
  absl::Mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool in_begin_ ABSL_GUARDED_BY(mu_) = false;  // Begin runs dispatched to the store
  bool uploaded_ ABSL_GUARDED_BY(mu_) = false;
};

absl::Status Check(const grpc::CallbackServerContext& context, const ServiceDeps& deps,
                   const v1::CheckFileRequest& request, v1::CheckFileResponse& response) {
  ASSIGN_OR_RETURN(Caller caller, CallerOf(context, deps));
  if (deps.admission != nullptr) {
    RETURN_IF_ERROR(deps.admission->AllowCheckFile(TokenKey(caller)));
  }
  response = CheckHead(request.head());
  return absl::OkStatus();
}

absl::Status Withdraw(const ServiceDeps& deps, const Caller& caller,
                      const v1::WithdrawDocumentRequest& request,
                      v1::WithdrawDocumentResponse& /*response*/) {
  return WithdrawDocument(LifecycleOf(deps), caller, request);
}

absl::Status Acknowledge(const ServiceDeps& deps, const Caller& caller,
                         const v1::AcknowledgeDocumentRequest& request,
                         v1::AcknowledgeDocumentResponse& /*response*/) {
  return AcknowledgeDocument(LifecycleOf(deps), caller, request);
}

}  // namespace

grpc::ServerUnaryReactor* DocumentServiceImpl::WithdrawDocument(
    grpc::CallbackServerContext* context, const v1::WithdrawDocumentRequest* request,
    v1::WithdrawDocumentResponse* response) {
  return UnaryOffThread(context, deps_, streams_, request, response, &Withdraw);
}

grpc::ServerUnaryReactor* DocumentServiceImpl::AcknowledgeDocument(
    grpc::CallbackServerContext* context, const v1::AcknowledgeDocumentRequest* request,
    v1::AcknowledgeDocumentResponse* response) {
  return UnaryOffThread(context, deps_, streams_, request, response, &Acknowledge);
}

grpc::ServerUnaryReactor* DocumentServiceImpl::CheckFile(
    grpc::CallbackServerContext* context, const v1::CheckFileRequest* request,
    v1::CheckFileResponse* response) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(streams_.draining()
                                   ? DrainingError()
                                   : Check(*context, deps_, *request, *response)));
  return reactor;
}

grpc::ServerReadReactor<v1::ShareDocumentRequest>* DocumentServiceImpl::ShareDocument(
    grpc::CallbackServerContext* context, v1::ShareDocumentResponse* response) {
  return new ShareReactor(context, response, deps_, streams_);
}

}  // namespace docshare
