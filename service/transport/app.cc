#include "service/transport/app.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "service/pipeline/isolated_renderer.h"
#include "service/sessions/make_backplane.h"

namespace docshare {
namespace {

RenderOptions RenderOptionsOf(const Config& c) {
  RenderOptions o;
  o.display_size = static_cast<int>(c.display_size);
  o.thumbnail_size = static_cast<int>(c.thumbnail_size);
  o.format = c.preview_format == "jpeg"  ? PreviewFormat::kJpeg
             : c.preview_format == "png" ? PreviewFormat::kPng
             : c.preview_format == "gif" ? PreviewFormat::kGif
                                         : PreviewFormat::kWebp;
  o.quality = static_cast<int>(c.preview_quality);
  o.webp_effort = static_cast<int>(c.webp_effort);
  return o;
}

// Wire limits (README "Wire limits" says why each).
void ApplyWireLimits(const Config& c, grpc::ServerBuilder& builder) {
  // Uploads arrive in chunks: a message is a chunk (clients send 64 KiB),
  // never a whole file.
  builder.SetMaxReceiveMessageSize(4 << 20);
  // A SessionEvent carries both previews of one document.
  builder.SetMaxSendMessageSize(64 << 20);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(c.max_concurrent_streams));
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 16 * 1024);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 10'000);
  // Probe idle connections so a vanished watcher is noticed within a minute.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  // Clients may ping at most every 10 s; two strikes and the connection goes.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
}

bool Readable(const std::string& path) { return std::ifstream(path).good(); }

// Plaintext, TLS, or mTLS. The files are watched and reloaded when they
// change (gRPC's FileWatcherCertificateProvider, every 60 s).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const Config& c) {
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
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

constexpr char kSessionService[] = "docshare.v1.SessionService";
constexpr char kDocumentService[] = "docshare.v1.DocumentService";

}  // namespace

App::App(Config config, const Clock& clock, Observer& observer, Logger& log)
    : config_(std::move(config)), clock_(clock), observer_(observer), log_(log) {
  if (config_.admin_token.empty()) {
    config_.admin_token = RandomToken(24);
    admin_token_generated_ = true;
  }
  if (config_.token_secret.empty()) config_.token_secret = RandomToken(32);
  tokens_ = std::make_unique<TokenService>(config_.token_secret, clock_);
  SessionCaps caps;
  caps.max_documents = static_cast<int>(config_.max_session_documents);
  caps.max_session_bytes = config_.max_session_bytes;
  caps.max_retained_bytes = config_.max_retained_bytes;
  // Never blocks: Redis is connected in the background (not ready until
  // then). Only a malformed --backplane fails, and Validate refuses those.
  backplane_ = MakeBackplane(config_.backplane, clock_, caps, observer_).value();
  int workers = static_cast<int>(config_.render_workers);
  if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
  if (config_.render_isolation == "thread") {
    renderer_ = std::make_unique<VipsRenderer>(RenderOptionsOf(config_));
  } else {
    renderer_ = std::make_unique<IsolatedRenderer>(
        RenderOptionsOf(config_),
        IsolationOptions{.worker_path = DefaultRenderWorkerPath(),
                         .workers = workers,
                         .timeout = absl::Seconds(config_.render_timeout),
                         .memory_limit = config_.render_memory_limit},
        observer_);
  }
  pool_ = std::make_unique<RenderPool>(workers, static_cast<int>(config_.render_queue),
                                       observer_);
  cache_ = std::make_unique<PreviewCache>(config_.preview_cache_bytes);
  Limits limits;
  limits.max_pixels = config_.max_pixels;
  limits.max_frames = static_cast<int>(config_.max_frames);
  limits.max_animation_pixels = config_.max_animation_pixels;
  pipeline_ = std::make_unique<Pipeline>(
      Pipeline::Deps{*backplane_, *renderer_, *pool_, *cache_, observer_, clock_}, limits,
      config_.max_file_bytes);
  ServiceDeps deps{*backplane_, *pipeline_, *tokens_, config_.admin_token,
                   observer_,   clock_,     log_};
  deps.default_ttl = absl::Seconds(config_.session_ttl);
  deps.watcher_queue = static_cast<size_t>(config_.watcher_queue);
  deps.upload_timeout = absl::Seconds(config_.upload_timeout);
  session_service_ = std::make_unique<SessionServiceImpl>(deps, streams_);
  document_service_ = std::make_unique<DocumentServiceImpl>(deps, streams_);
}

App::~App() {
  Drain(absl::ZeroDuration());
}

absl::Status App::Start(
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors) {
  if (config_.render_isolation != "thread") {
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
  builder.AddListeningPort(config_.grpc_address, *credentials, &grpc_port_);
  builder.RegisterService(session_service_.get());
  builder.RegisterService(document_service_.get());
  ApplyWireLimits(config_, builder);
  if (!interceptors.empty()) builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server_ = builder.BuildAndStart();
  if (!server_ || grpc_port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on --grpc-address ", config_.grpc_address));
  }
  auto* health = server_->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus(kSessionService, true);
  health->SetServingStatus(kDocumentService, true);
  expiry_ = std::thread([this] { ExpiryLoop(); });
  return absl::OkStatus();
}

bool App::ready() const {
  return server_ != nullptr && !streams_.draining() && backplane_->Healthy();
}

void App::ExpiryLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    backplane_->ExpireDue();
    lock.lock();
    stop_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
  }
}

void App::Drain(absl::Duration timeout) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (expiry_.joinable()) expiry_.join();
  if (!server_) return;
  server_->GetHealthCheckService()->SetServingStatus(false);
  // New RPCs are refused, watchers told to resume elsewhere, shares already
  // received finish; then whatever is left is cancelled.
  streams_.Drain();
  if (!streams_.WaitIdle(absl::Now() + timeout)) {
    log_.Warn("drain_timeout", {{"timeout_s", absl::ToInt64Seconds(timeout)}});
  }
  server_->Shutdown(std::chrono::system_clock::now());
  pool_->Shutdown();
  server_->Wait();
}

}  // namespace docshare
