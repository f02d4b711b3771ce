// docshare-server: config -> objects -> servers -> wait for a signal.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "prometheus/registry.h"
#include "service/common/log.h"
#include "service/config/config.h"
#include "service/metrics/http_metrics.h"
#include "service/metrics/http_server.h"
#include "service/metrics/metrics.h"
#include "service/metrics/process_collector.h"
#include "service/pipeline/vips_boundary.h"
#include "service/transport/app.h"
#include "service/transport/grpc_log.h"
#include "service/transport/grpc_metrics.h"

namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace docshare;
  absl::StatusOr<Config> config =
      LoadConfig({argv + 1, argv + argc}, DocshareEnvironment());
  if (absl::IsNotFound(config.status())) {  // --help
    std::cout << config.status().message();
    return 0;
  }
  if (config.ok()) {
    if (absl::Status valid = config->Validate(); !valid.ok()) config = valid;
  }
  if (!config.ok()) {
    std::cerr << "docshare-server: " << config.status().message() << "\n";
    return 1;
  }
  if (absl::Status vips = InitVips(argv[0]); !vips.ok()) {
    std::cerr << "docshare-server: " << vips.message() << "\n";
    return 1;
  }

  // gRPC's absl::Mutex graph bookkeeping costs ~5% of a CheckFile here
  // (measured with perf); deadlocks are a test-time concern (TSan, ASan).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Signals are taken by sigwait below, never by a handler on a random thread.
  const sigset_t signals = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  SystemClock clock;
  Logger log(config->log_level);
  GrpcLogRoute grpc_log(log);
  // GLib's (libvips') messages and other process-wide ones as JSON lines too.
  SetProcessLogger(&log);
  RouteGLibLog();
  LogObserver log_observer(log);
  auto registry = std::make_shared<prometheus::Registry>();  // outlives the server
  Metrics metrics(*registry);
  ObserverTee observer(metrics, log_observer);
  HttpMetrics http_metrics(*registry);
  App app(*config, clock, observer, log, &http_metrics);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(NewGrpcMetricsFactory(*registry));
  if (absl::Status started = app.Start(std::move(interceptors)); !started.ok()) {
    log.Log(LogLevel::kError, "start_failed",
            {{"error", std::string(started.message())}});
    return 1;
  }
  // Destroyed after the drain, so /readyz answers 503 while draining.
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> http = MetricsHttpServer::Start(
      {.address = config->metrics_address,
       .collectables = {registry, std::make_shared<ProcessCollector>()},
       .ready = [&app] { return app.ready(); },
       .dropped =
           [&metrics](std::string_view r) { metrics.MetricsConnectionDropped(r); }});
  if (!http.ok()) {
    log.Log(LogLevel::kError, "start_failed",
            {{"error", std::string(http.status().message())}});
    return 1;
  }
  if (app.admin_token_generated()) {
    // The one place a secret is shown: on stderr, once, because nobody set one.
    std::cerr << "docshare-server: admin token (generated, shown once): "
              << app.admin_token() << "\n";
  }
  {
    std::string effective;
    for (const auto& [name, value] : config->Effective()) {
      effective += (effective.empty() ? "" : " ") + name + "=" + value;
    }
    log.Info("started", {{"grpc_port", app.grpc_port()},
                         {"http_port", app.http_port()},
                         {"metrics_port", (*http)->port()},
                         {"config", effective}});
  }

  int signal = 0;
  sigwait(&signals, &signal);
  // A second signal ends the drain at once.
  std::thread([signals] {
    int again = 0;
    sigwait(&signals, &again);
    std::_Exit(1);
  }).detach();
  log.Info("draining",
           {{"signal", signal},
            {"drain_timeout_s", absl::ToInt64Seconds(config->drain_timeout)}});
  app.Drain(config->drain_timeout);
  log.Info("stopped");
  return 0;
}
