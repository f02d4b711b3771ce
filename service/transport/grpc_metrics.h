#ifndef DOCSHARE_TRANSPORT_GRPC_METRICS_H_
#define DOCSHARE_TRANSPORT_GRPC_METRICS_H_

// Server-side gRPC metrics with go-grpc-prometheus' names and labels, so the
// usual gRPC dashboards and alerts work unchanged:
//   grpc_server_started_total{grpc_type, grpc_service, grpc_method}
//   grpc_server_handled_total{grpc_type, grpc_service, grpc_method, grpc_code}
//   grpc_server_handling_seconds{grpc_type, grpc_service, grpc_method}
//   grpc_server_msg_received_total{grpc_type, grpc_service, grpc_method}
//   grpc_server_msg_sent_total{grpc_type, grpc_service, grpc_method}
// grpc_type is unary, client_stream, server_stream or bidi_stream; grpc_code
// is Go's name of the code ("OK", "InvalidArgument", "ResourceExhausted"...).
// A method the server does not serve is labelled "unknown": a client cannot
// create series by calling made-up names.

#include <memory>

#include "grpcpp/support/server_interceptor.h"
#include "prometheus/registry.h"

namespace docshare {

// Pass to App::Start. `registry` must outlive the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewGrpcMetricsFactory(prometheus::Registry& registry);

}  // namespace docshare

#endif  // DOCSHARE_TRANSPORT_GRPC_METRICS_H_
