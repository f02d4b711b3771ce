// docshare-server: config -> objects -> servers -> wait for a signal.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "service/config/config.h"
#include "service/pipeline/vips_boundary.h"
#include "service/transport/app.h"

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
  absl::StatusOr<Config> config = LoadConfig({argv + 1, argv + argc}, DocshareEnvironment());
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

  // Signals are taken by sigwait below, never by a handler on a random thread.
  const sigset_t signals = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  SystemClock clock;
  NullObserver observer;
  App app(*config, clock, observer);
  if (absl::Status started = app.Start(); !started.ok()) {
    std::cerr << "docshare-server: " << started.message() << "\n";
    return 1;
  }
  if (app.admin_token_generated()) {
    std::cerr << "docshare-server: admin token (generated, shown once): " << app.admin_token()
              << "\n";
  }
  std::cerr << "docshare-server: serving gRPC on port " << app.grpc_port() << "\n";

  int signal = 0;
  sigwait(&signals, &signal);
  // A second signal ends the drain at once.
  std::thread([signals] {
    int again = 0;
    sigwait(&signals, &again);
    std::_Exit(1);
  }).detach();
  app.Drain(absl::Seconds(config->drain_timeout));
  return 0;
}
