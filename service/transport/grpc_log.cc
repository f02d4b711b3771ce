#include "service/transport/grpc_log.h"

#include <atomic>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "grpc/support/log.h"

namespace docshare {
namespace {

// gpr_set_log_function takes a plain function: the logger it forwards to can
// only be found through this pointer.
std::atomic<Logger*>& Target() {
  static std::atomic<Logger*> target{nullptr};
  return target;
}

void Forward(gpr_log_func_args* args) {
  Logger* log = Target().load(std::memory_order_acquire);
  if (log == nullptr) {  // after the route ended: its logger may be gone
    std::fprintf(stderr, "grpc %s:%d: %s\n", args->file, args->line, args->message);
    return;
  }
  const LogLevel level =
      args->severity == GPR_LOG_SEVERITY_ERROR ? LogLevel::kWarn : LogLevel::kDebug;
  if (!log->Enabled(level)) return;
  log->Log(level, "grpc_log",
           {{"message", args->message},
            {"source",
             absl::StrCat(args->file == nullptr ? "" : args->file, ":", args->line)}});
}

}  // namespace

GrpcLogRoute::GrpcLogRoute(Logger& log) {
  Target().store(&log, std::memory_order_release);
  gpr_set_log_function(Forward);
}

// gRPC 1.51 exports no handle on its default function to restore.
GrpcLogRoute::~GrpcLogRoute() { Target().store(nullptr, std::memory_order_release); }

}  // namespace docshare
