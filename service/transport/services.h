#ifndef DOCSHARE_TRANSPORT_SERVICES_H_
#define DOCSHARE_TRANSPORT_SERVICES_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "docshare/v1/docshare.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "service/auth/tokens.h"
#include "service/common/clock.h"
#include "service/common/log.h"
#include "service/common/observer.h"
#include "service/pipeline/pipeline.h"
#include "service/sessions/backplane.h"

namespace docshare {

// A stream that the server ends itself when it drains.
class Drainable {
 public:
  virtual ~Drainable() = default;
  virtual void EndForDrain() = 0;
};

// What the gRPC services need, built by main (or a test) and shared.
struct ServiceDeps {
  Backplane& backplane;
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
};

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
  // Recursive: a stream's OnDone (which removes it) might run inline from
  // EndForDrain.
  mutable std::recursive_mutex mu_;
  std::condition_variable_any idle_;
  std::set<Drainable*> streams_;
  int calls_ = 0;
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
            v1::SessionService::Service>>>;

class SessionServiceImpl final : public SessionServiceBase {
 public:
  SessionServiceImpl(ServiceDeps deps, StreamSet& streams) : deps_(deps), streams_(streams) {}

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

 private:
  absl::Status Start(const grpc::CallbackServerContext& context,
                     const v1::StartSessionRequest& request,
                     v1::StartSessionResponse& response);
  absl::Status End(const grpc::CallbackServerContext& context,
                   const v1::EndSessionRequest& request, v1::EndSessionResponse& response);

  ServiceDeps deps_;
  StreamSet& streams_;
};

class DocumentServiceImpl final : public v1::DocumentService::CallbackService {
 public:
  DocumentServiceImpl(ServiceDeps deps, StreamSet& streams) : deps_(deps), streams_(streams) {}

  grpc::ServerUnaryReactor* CheckFile(grpc::CallbackServerContext* context,
                                      const v1::CheckFileRequest* request,
                                      v1::CheckFileResponse* response) override;
  grpc::ServerReadReactor<v1::ShareDocumentRequest>* ShareDocument(
      grpc::CallbackServerContext* context, v1::ShareDocumentResponse* response) override;

 private:
  ServiceDeps deps_;
  StreamSet& streams_;
};

// A session id is 1-128 of [A-Za-z0-9._-].
bool ValidSessionId(std::string_view id);

}  // namespace docshare

#endif  // DOCSHARE_TRANSPORT_SERVICES_H_
