#ifndef DOCSHARE_TRANSPORT_APP_H_
#define DOCSHARE_TRANSPORT_APP_H_

#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "service/auth/tokens.h"
#include "service/common/clock.h"
#include "service/common/observer.h"
#include "service/config/config.h"
#include "service/http/api.h"
#include "service/http/http_server.h"
#include "service/pipeline/pipeline.h"
#include "service/sessions/session_store.h"
#include "service/transport/h2_guard.h"
#include "service/transport/reflection_v1.h"
#include "service/transport/services.h"

namespace docshare {

// The whole service built from a Config: backplane, pipeline, gRPC server
// with health and reflection. main() and the integration tests both run it.
class App {
 public:
  // `http_observer` (metrics) defaults to none.
  App(Config config, const Clock& clock, Observer& observer, Logger& log,
      HttpObserver* http_observer = nullptr);
  ~App();

  // Binds --grpc-address (port 0 picks a free port) and starts serving.
  absl::Status Start(
      std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
          interceptors = {});
  int grpc_port() const { return grpc_port_; }
  // 0 with --http-address=off.
  int http_port() const { return http_ ? http_->port() : 0; }
  const std::string& admin_token() const { return config_.admin_token; }
  bool admin_token_generated() const { return admin_token_generated_; }
  const Config& config() const { return config_; }
  SessionStore& backplane() { return *backplane_; }
  const TokenService& tokens() const { return *tokens_; }
  RenderPool& render_pool() { return *pool_; }
  bool ready() const;
  // Shares begun (their RPC accepted) and not yet answered.
  int shares_in_flight() const { return streams_.calls(); }

  // SIGTERM: not ready at once, new RPCs UNAVAILABLE, watchers end with
  // UNAVAILABLE, shares in flight finish within `timeout`, then stop.
  void Drain(absl::Duration timeout);

 private:
  void ExpiryLoop();

  Config config_;
  const Clock& clock_;
  Observer& observer_;
  Logger& log_;
  bool admin_token_generated_ = false;
  std::unique_ptr<TokenService> tokens_;
  std::unique_ptr<SessionStore> backplane_;
  std::unique_ptr<Renderer> renderer_;
  std::unique_ptr<RenderPool> pool_;
  std::unique_ptr<PreviewCache> cache_;
  std::unique_ptr<UploadBudget> upload_budget_;
  std::unique_ptr<Admission> admission_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<PreviewUrlSigner>
      preview_urls_;  // gRPC and HTTP; null with --http-address=off
  StreamSet streams_;
  std::unique_ptr<SessionServiceImpl> session_service_;
  std::unique_ptr<DocumentServiceImpl> document_service_;
  std::unique_ptr<ReflectionV1Service> reflection_v1_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<H2Guard> h2_guard_;  // plaintext gRPC's listener
  int grpc_port_ = 0;
  HttpObserver null_http_observer_;
  std::unique_ptr<PreviewRoute> previews_;
  std::unique_ptr<EventsRoute> events_;
  std::unique_ptr<UploadRoute> uploads_;
  std::unique_ptr<LifecycleRoutes> lifecycle_;
  std::unique_ptr<HttpApi> http_api_;
  std::unique_ptr<HttpServer> http_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread expiry_;
};

}  // namespace docshare

#endif  // DOCSHARE_TRANSPORT_APP_H_
