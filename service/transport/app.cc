#include "service/transport/app.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "service/common/cpus.h"
#include "service/pipeline/isolated_renderer.h"
#include "service/sessions/memory_store.h"
#include "service/sessions/redis_store.h"

namespace docshare {
namespace {

// Never blocks: Redis is connected in the background (not ready until then).
std::unique_ptr<SessionStore> BackplaneOf(const Config& c, const Clock& clock,
                                          Observer& observer) {
  const SessionCaps caps{.max_documents = c.session_caps.max_documents,
                         .max_session_bytes = c.session_caps.max_session_bytes,
                         .max_retained_bytes = c.session_caps.max_retained_bytes,
                         .replay_cache_bytes = c.session_caps.replay_cache_bytes};
  struct Visitor {
    const Config& c;
    const Clock& clock;
    const SessionCaps& caps;
    Observer& observer;
    std::unique_ptr<SessionStore> operator()(const MemoryBackplaneConfig&) const {
      return std::make_unique<MemoryStore>(clock, caps, observer);
    }
    std::unique_ptr<SessionStore> operator()(const RedisBackplaneConfig& r) const {
      RedisSecurity security{.tls = r.tls,
                             .ca_file = c.redis_ca,
                             .cert_file = c.redis_cert,
                             .key_file = c.redis_key,
                             .username = r.username,
                             .password = r.password};
      // Validate checked the file is readable.
      if (!c.redis_password_file.empty()) {
        security.password = ReadRedisPassword(c.redis_password_file).value();
      }
      return std::make_unique<RedisStore>(
          RedisAddress{r.host, r.port, r.db, std::move(security)}, clock, caps, observer,
          RedisCallThreads{.threads = c.redis_call_threads,
                           .queue = static_cast<size_t>(c.redis_call_queue)});
    }
  };
  return std::visit(Visitor{c, clock, caps, observer}, c.backplane);
}

// Wire limits (README "Wire limits" says why each).
void ApplyWireLimits(const Config& c, grpc::ServerBuilder& builder) {
  // Uploads arrive in chunks: a message is a chunk (clients send 64 KiB),
  // never a whole file.
  builder.SetMaxReceiveMessageSize(4 << 20);
  // A SessionEvent carries both previews of one document.
  builder.SetMaxSendMessageSize(64 << 20);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, c.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 16 * 1024);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 10'000);
  // Probe idle connections so a vanished watcher is noticed within a minute.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  // Clients may ping at most every 10 s; two strikes and the connection goes.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // What gRPC itself may allocate (buffers of connections and calls). The
  // 16 KiB metadata limit does not bound a CONTINUATION flood in 1.51; a quota
  // makes the transport refuse reads past it (README "HTTP/2 floods").
  if (c.grpc_memory_limit != 0) {
    grpc::ResourceQuota quota("docshare-grpc");
    quota.Resize(static_cast<size_t>(c.grpc_memory_limit));
    builder.SetResourceQuota(quota);
  }
}

bool Readable(const std::string& path) { return std::ifstream(path).good(); }

// Plaintext, TLS, or mTLS. The files are watched and reloaded when they
// change (gRPC's FileWatcherCertificateProvider, every 60 s).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const Config& c) {
  if (c.tls_cert.empty()) return grpc::InsecureServerCredentials();
  for (const std::string* path : {&c.tls_cert, &c.tls_key, &c.tls_client_ca}) {
    if (!path->empty() && !Readable(*path)) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read ", *path));
    }
  }
  constexpr unsigned kRefreshSeconds = 60;
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider =
      c.tls_client_ca.empty()
          ? std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
                c.tls_key, c.tls_cert, kRefreshSeconds)
          : std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
                c.tls_key, c.tls_cert, c.tls_client_ca, kRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (c.tls_client_ca.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

constexpr char kSessionService[] = "docshare.v1.SessionService";
constexpr char kDocumentService[] = "docshare.v1.DocumentService";
// gRPC health for liveness (the chart's probe): SERVING while the process
// runs, draining included, so the kubelet never restarts a draining pod.
// "" and the two services are readiness: they follow ready().
constexpr char kLivenessService[] = "liveness";

}  // namespace

App::App(Config config, const Clock& clock, Observer& observer, Logger& log,
         HttpObserver* http_observer)
    : config_(std::move(config)), clock_(clock), observer_(observer), log_(log) {
  if (config_.admin_token.empty()) {
    config_.admin_token = GenerateAdminToken();
    admin_token_generated_ = true;
  }
  if (config_.token_secret.empty()) config_.token_secret = RandomToken(32);
  tokens_ = std::make_unique<TokenService>(config_.TokenSecrets(), clock_);
  backplane_ = BackplaneOf(config_, clock_, observer_);
  const Config::Isolation& isolation = config_.isolation;
  int workers = isolation.workers;
  // 0: the CPUs this process may use (affinity mask, cgroup CPU quota).
  if (workers == 0) workers = UsableCpus();
  if (isolation.mode == RenderIsolation::kThread) {
    renderer_ = std::make_unique<VipsRenderer>(config_.render);
  } else {
    renderer_ = std::make_unique<IsolatedRenderer>(
        config_.render,
        IsolationOptions{.worker_path = isolation.worker_path.empty()
                                            ? DefaultRenderWorkerPath()
                                            : isolation.worker_path,
                         .workers = workers,
                         .timeout = isolation.timeout,
                         .memory_limit = isolation.memory_limit,
                         .heap_keep_bytes = isolation.heap_keep_bytes},
        observer_);
  }
  pool_ = std::make_unique<RenderPool>(workers, isolation.queue, observer_,
                                       static_cast<int>(config_.max_session_renders));
  upload_budget_ =
      std::make_unique<UploadBudget>(config_.max_inflight_upload_bytes, observer_);
  admission_ = std::make_unique<Admission>(
      AdmissionLimits{.max_session_watchers = config_.max_session_watchers,
                      .max_token_watchers = config_.max_token_watchers,
                      .check_file_rate = config_.token_check_file_rate,
                      .share_rate = config_.token_share_rate},
      clock_, observer_);
  cache_ = std::make_unique<PreviewCache>(config_.preview_cache_bytes,
                                          config_.preview_cache_scope);
  Limits limits;
  limits.max_pixels = config_.limits.max_pixels;
  limits.max_frames = config_.limits.max_frames;
  limits.max_animation_pixels = config_.limits.max_animation_pixels;
  pipeline_ =
      std::make_unique<Pipeline>(Pipeline::Deps{*backplane_, *renderer_, *pool_, *cache_,
                                                observer_, clock_, upload_budget_.get()},
                                 limits, config_.limits.max_file_bytes);
  // A withdrawn document's previews leave this replica's cache.
  // And the HTTP listener's cached copies: their URLs answer 410 at once.
  backplane_->SetPurgeListener([this](const std::vector<std::string>& s) {
    cache_->ErasePreviews(s);
    if (previews_) previews_->Forget(s);
  });
  if (config_.http_address != "off") {
    preview_urls_ =
        std::make_unique<PreviewUrlSigner>(config_.TokenSecrets().front(), clock_,
                                           config_.preview_url_ttl, config_.public_url);
  }
  ServiceDeps deps{*backplane_, *pipeline_, *tokens_, config_.admin_token,
                   observer_,   clock_,     log_};
  deps.preview_urls = preview_urls_.get();
  deps.default_ttl = config_.session_ttl;
  deps.watcher_queue = static_cast<size_t>(config_.watcher_queue);
  deps.upload_timeout = config_.upload_timeout;
  deps.admission = admission_.get();
  session_service_ = std::make_unique<SessionServiceImpl>(deps, streams_);
  document_service_ = std::make_unique<DocumentServiceImpl>(deps, streams_);
  if (config_.http_address != "off") {
    HttpObserver& http_observer_ref =
        http_observer != nullptr ? *http_observer : null_http_observer_;
    // The HTTP routes' store calls are dispatched to the store (never
    // waiting on the event loop), as the gRPC services' are.
    previews_ = std::make_unique<PreviewRoute>(
        PreviewRoute::Deps{*backplane_, *preview_urls_, http_observer_ref, clock_},
        PreviewRoute::Options{});
    events_ = std::make_unique<EventsRoute>(EventsRoute::Deps{
        .backplane = *backplane_,
        .signer = *preview_urls_,
        .observer = http_observer_ref,
        .sessions = observer_,
        .admit = [this](const std::string& session,
                        const Caller& caller) -> absl::StatusOr<std::shared_ptr<void>> {
          absl::StatusOr<Admission::WatchSlot> slot =
              admission_->AdmitWatch(session, TokenKey(caller));
          if (!slot.ok()) return slot.status();
          return std::make_shared<Admission::WatchSlot>(*std::move(slot));
        },
        .watcher_queue = static_cast<size_t>(config_.watcher_queue)});
    uploads_ = std::make_unique<UploadRoute>(
        UploadRoute::Deps{.pipeline = *pipeline_,
                          .backplane = *backplane_,
                          .observer = http_observer_ref,
                          .signer = preview_urls_.get(),
                          .allow_share = [this](const Caller& caller) {
                            return admission_->AllowShare(TokenKey(caller));
                          }});
    lifecycle_ = std::make_unique<LifecycleRoutes>(
        LifecycleRoutes::Deps{.lifecycle = LifecycleOf(deps)});
    // Validate has parsed the list already.
    http_api_ = std::make_unique<HttpApi>(
        HttpApi::Deps{.tokens = *tokens_,
                      .admin_token = config_.admin_token,
                      .cors_origins = ParseOrigins(config_.cors_origins).value(),
                      .observer = http_observer_ref,
                      .previews = previews_.get(),
                      .events = events_.get(),
                      .uploads = uploads_.get(),
                      .lifecycle = lifecycle_.get(),
                      .demo = config_.demo,
                      .allow_check = [this](const Caller& caller) {
                        return admission_->AllowCheckFile(TokenKey(caller));
                      }});
  }
  reflection_v1_ = std::make_unique<ReflectionV1Service>(std::vector<std::string>{
      kSessionService, kDocumentService, "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"});
}

App::~App() {
  Drain(absl::ZeroDuration());
  // The store may still hear of a withdrawal (Redis); what the listener
  // touches goes away before the store does.
  backplane_->SetPurgeListener(nullptr);
}

absl::Status App::Start(
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors) {
  if (config_.isolation.mode == RenderIsolation::kProcess) {
    // Without its worker every share would fail INTERNAL: refuse to start.
    const std::string worker = DefaultRenderWorkerPath();
    if (access(worker.c_str(), X_OK) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no executable render worker at ", worker, " (", std::strerror(errno),
          "): install docshare-render-worker next to docshare-server, or run with "
          "--render-isolation=thread"));
    }
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentials(config_);
  if (!credentials.ok()) return credentials.status();
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second server on a port in use would
  // start and take its connections. A port in use is an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Plaintext: the HTTP/2 frame guard accepts the connections (below) and
  // hands them to gRPC, which listens on no port of its own. TLS: gRPC
  // terminates it and reads the frames unguarded (docs/http2-exposure.md).
  const bool guarded = config_.tls_cert.empty() && config_.http2_guard;
  if (!guarded) builder.AddListeningPort(config_.grpc_address, *credentials, &grpc_port_);
  builder.RegisterService(session_service_.get());
  builder.RegisterService(document_service_.get());
  builder.RegisterService(reflection_v1_.get());
  ApplyWireLimits(config_, builder);
  if (!interceptors.empty())
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server_ = builder.BuildAndStart();
  if (guarded && server_) {
    absl::StatusOr<std::unique_ptr<H2Guard>> guard = H2Guard::Start(
        config_.grpc_address, *server_,
        H2Limits{.max_header_block_bytes =
                     static_cast<size_t>(config_.http2_max_header_block_bytes),
                 .max_resets_per_second = config_.http2_max_resets_per_second},
        [this](std::string_view limit) {
          observer_.Http2ConnectionClosed(limit);
          log_.Warn("http2_connection_closed", {{"limit", std::string(limit)}});
        });
    if (!guard.ok()) {
      server_->Shutdown(std::chrono::system_clock::now());
      server_->Wait();
      server_.reset();
      return guard.status();
    }
    h2_guard_ = *std::move(guard);
    grpc_port_ = h2_guard_->port();
  }
  if (!server_ || grpc_port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on --grpc-address ", config_.grpc_address,
                     ": the port is in use, or the address is not this machine's"));
  }
  if (http_api_) {
    absl::StatusOr<std::unique_ptr<HttpServer>> http =
        HttpServer::Start({.address = config_.http_address,
                           .tls_cert_file = config_.tls_cert,
                           .tls_key_file = config_.tls_key,
                           .idle_timeout = config_.upload_timeout},
                          *http_api_);
    if (!http.ok()) return http.status();
    http_ = *std::move(http);
  }
  auto* health = server_->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus(kSessionService, true);
  health->SetServingStatus(kDocumentService, true);
  health->SetServingStatus(kLivenessService, true);
  expiry_ = std::thread([this] { ExpiryLoop(); });
  return absl::OkStatus();
}

bool App::ready() const {
  return server_ != nullptr && !streams_.draining() && backplane_->Healthy();
}

void App::ExpiryLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    backplane_->ExpireDue();
    // gRPC readiness follows /readyz (a Redis outage included).
    const bool serving = ready();
    auto* health = server_->GetHealthCheckService();
    for (const char* service : {"", kSessionService, kDocumentService}) {
      health->SetServingStatus(service, serving);
    }
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Seconds(1))) return;
  }
}

void App::Drain(absl::Duration timeout) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;  // wakes ExpiryLoop's Await
  }
  if (expiry_.joinable()) expiry_.join();
  if (!server_) return;
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->GetHealthCheckService()->SetServingStatus(kLivenessService, true);
  // New RPCs are refused, watchers told to resume elsewhere, shares already
  // received finish; then whatever is left is cancelled.
  streams_.Drain();
  // The HTTP listener stops accepting and answers what it has read.
  if (http_) http_->Drain(absl::Now() + timeout);
  if (!streams_.WaitIdle(absl::Now() + timeout)) {
    log_.Warn("drain_timeout", {{"timeout_s", absl::ToInt64Seconds(timeout)}});
  }
  // No new connections; gRPC's shutdown then says GOAWAY on those open,
  // and the guard closes what is left once gRPC is done.
  if (h2_guard_) h2_guard_->StopAccepting();
  server_->Shutdown(std::chrono::system_clock::now());
  pool_->Shutdown();
  server_->Wait();
  if (h2_guard_) h2_guard_->Stop();
  http_.reset();
  // What the server's calls dispatched and is still queued (an SSE stream's
  // release) runs now, while the routes and caps it touches are here.
  backplane_->FinishCalls();
}

}  // namespace docshare
