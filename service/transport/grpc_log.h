#ifndef DOCSHARE_TRANSPORT_GRPC_LOG_H_
#define DOCSHARE_TRANSPORT_GRPC_LOG_H_

#include "service/common/log.h"

namespace docshare {

// While it lives, gRPC core's own log lines (gpr_log, e.g. "E1201 ...
// chttp2_server.cc:...] bind failed") go to `log` as JSON lines, event
// "grpc_log" (gRPC errors as warn, the rest as debug), instead of raw text on
// stderr. gRPC has one process-wide hook: make one, in main, before any
// gRPC object, and keep `log` alive as long as it.
class GrpcLogRoute {
 public:
  explicit GrpcLogRoute(Logger& log);
  ~GrpcLogRoute();  // later lines: plain text on stderr
  GrpcLogRoute(const GrpcLogRoute&) = delete;
  GrpcLogRoute& operator=(const GrpcLogRoute&) = delete;
};

}  // namespace docshare

#endif  // DOCSHARE_TRANSPORT_GRPC_LOG_H_
