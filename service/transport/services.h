#ifndef DOCSHARE_TRANSPORT_SERVICES_H_
#define DOCSHARE_TRANSPORT_SERVICES_H_

#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "docshare/v1/docshare.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "service/auth/preview_url.h"
#include "service/auth/tokens.h"
#include "service/common/clock.h"
#include "service/common/log.h"
#include "service/common/observer.h"
#include "service/pipeline/pipeline.h"
#include "service/sessions/session_store.h"
#include "service/transport/admission.h"
#include "service/transport/lifecycle.h"
#include "service/transport/status.h"

namespace docshare {

// A stream that the server ends itself when it drains.
class Drainable {
 public:
  virtual ~Drainable() = default;
  virtual void EndForDrain() = 0;
};

// What the gRPC services need, built by main (or a test) and shared.
struct ServiceDeps {
  SessionStore& backplane;
  Pipeline& pipeline;
  const TokenService& tokens;
  std::string admin_token;
  Observer& observer;
  const Clock& clock;
  Logger& log;
  absl::Duration default_ttl = absl::Seconds(7200);
  absl::Duration max_ttl = absl::Hours(24 * 7);
  size_t watcher_queue = 64;
  absl::Duration upload_timeout = absl::Seconds(60);
  Admission* admission = nullptr;  // caps and per-token rates; null: none
  // Signs PREVIEW_DELIVERY_URL previews; null (HTTP off): `url` stays empty.
  const PreviewUrlSigner* preview_urls = nullptr;
};

// The lifecycle calls' share of `deps` (transport/lifecycle.h).
inline LifecycleDeps LifecycleOf(const ServiceDeps& deps) {
  return {deps.backplane, deps.observer, deps.log, deps.preview_urls};
}

// Runs `work` (store calls) where the store runs its calls (Dispatch: never
// on this callback thread when they may wait on Redis) and finishes
// `reactor` with its status; a refused dispatch answers StoreBusy() at once.
void FinishOffThread(const ServiceDeps& deps, grpc::ServerUnaryReactor* reactor,
                     std::function<absl::Status()> work);

// Live streams and the draining flag, shared by the services. Draining is
// done here rather than by grpc::Server::Shutdown's grace period, which
// cancels streams at once in this gRPC.
class StreamSet {
 public:
  // False when draining: the RPC should end with UNAVAILABLE. A stream added
  // is removed from its reactor's OnDone.
  bool Add(Drainable* stream);
  void Remove(Drainable* stream);
  // Calls (shares) that finish by themselves while draining.
  bool BeginCall();
  void EndCall();
  // From now on Add and BeginCall fail; every live stream is ended.
  void Drain();
  // Waits until no stream or call is left, or `deadline`. True when idle.
  bool WaitIdle(absl::Time deadline);
  bool draining() const { return draining_.load(); }
  // Calls begun and not yet ended.
  int calls() const;

 private:
  mutable absl::Mutex mu_;
  std::set<Drainable*> streams_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  // The thread calling EndForDrain, which happens with no lock held: until it
  // is done, Remove from other threads waits (their reactor must outlive the
  // call); a stream's OnDone that runs inline from EndForDrain removes it at
  // once.
  std::optional<std::thread::id> ending_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> draining_{false};
};

// The caller named by the `authorization` metadata.
absl::StatusOr<Caller> CallerOf(const grpc::CallbackServerContext& context,
                                const ServiceDeps& deps);

// WatchSession is a raw method: each event is serialized once into a
// grpc::ByteBuffer whose slices every watcher of the session sends (see
// session_service.cc); the other two methods are ordinary callback methods.
using SessionServiceBase = v1::SessionService::WithCallbackMethod_StartSession<
    v1::SessionService::WithCallbackMethod_EndSession<
        v1::SessionService::WithRawCallbackMethod_WatchSession<
            v1::SessionService::WithCallbackMethod_GetSession<
                v1::SessionService::Service>>>>;

class EventBytes;  // session_service.cc

class SessionServiceImpl final : public SessionServiceBase {
 public:
  SessionServiceImpl(ServiceDeps deps, StreamSet& streams);
  ~SessionServiceImpl() override;

  grpc::ServerUnaryReactor* StartSession(grpc::CallbackServerContext* context,
                                         const v1::StartSessionRequest* request,
                                         v1::StartSessionResponse* response) override;
  grpc::ServerUnaryReactor* EndSession(grpc::CallbackServerContext* context,
                                       const v1::EndSessionRequest* request,
                                       v1::EndSessionResponse* response) override;
  // The request is a serialized v1::WatchSessionRequest; each message
  // written is a serialized v1::SessionEvent.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchSession(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* GetSession(grpc::CallbackServerContext* context,
                                       const v1::GetSessionRequest* request,
                                       v1::Session* response) override;

 private:
  ServiceDeps deps_;
  StreamSet& streams_;
  // Serialized events shared by this server's watchers.
  std::unique_ptr<EventBytes> event_bytes_;
};

class DocumentServiceImpl final : public v1::DocumentService::CallbackService {
 public:
  DocumentServiceImpl(ServiceDeps deps, StreamSet& streams)
      : deps_(deps), streams_(streams) {}

  grpc::ServerUnaryReactor* CheckFile(grpc::CallbackServerContext* context,
                                      const v1::CheckFileRequest* request,
                                      v1::CheckFileResponse* response) override;
  grpc::ServerReadReactor<v1::ShareDocumentRequest>* ShareDocument(
      grpc::CallbackServerContext* context, v1::ShareDocumentResponse* response) override;
  grpc::ServerUnaryReactor* WithdrawDocument(
      grpc::CallbackServerContext* context, const v1::WithdrawDocumentRequest* request,
      v1::WithdrawDocumentResponse* response) override;
  grpc::ServerUnaryReactor* AcknowledgeDocument(
      grpc::CallbackServerContext* context, const v1::AcknowledgeDocumentRequest* request,
      v1::AcknowledgeDocumentResponse* response) override;

 private:
  ServiceDeps deps_;
  StreamSet& streams_;
};

// A unary RPC whose work waits on the store: the caller is read on the
// callback thread (a signature check, no I/O), then `call` runs off it
// (FinishOffThread). Draining: UNAVAILABLE.
template <typename Request, typename Response>
grpc::ServerUnaryReactor* UnaryOffThread(
    grpc::CallbackServerContext* context, const ServiceDeps& deps, StreamSet& streams,
    const Request* request, Response* response,
    absl::Status (*call)(const ServiceDeps&, const Caller&, const Request&, Response&)) {
  auto* reactor = context->DefaultReactor();
  absl::StatusOr<Caller> caller = streams.draining()
                                      ? absl::StatusOr<Caller>(DrainingError())
                                      : CallerOf(*context, deps);
  if (!caller.ok()) {
    reactor->Finish(ToGrpcStatus(caller.status()));
    return reactor;
  }
  FinishOffThread(deps, reactor,
                  [&deps, caller = *std::move(caller), request, response, call] {
                    return call(deps, caller, *request, *response);
                  });
  return reactor;
}

// A session id is 1-128 of [A-Za-z0-9._-].
bool ValidSessionId(std::string_view id);

}  // namespace docshare

#endif  // DOCSHARE_TRANSPORT_SERVICES_H_
