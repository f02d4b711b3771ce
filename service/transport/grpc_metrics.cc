#include "service/transport/grpc_metrics.h"

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/descriptor.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "service/metrics/metrics.h"

namespace docshare {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::Interceptor;
using grpc::experimental::InterceptorBatchMethods;
using grpc::experimental::ServerRpcInfo;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Histogram;
using prometheus::Labels;

// Go's codes.Code.String(), indexed by the code's number.
constexpr std::array<const char*, 17> kCodeNames = {"OK",
                                                    "Canceled",
                                                    "Unknown",
                                                    "InvalidArgument",
                                                    "DeadlineExceeded",
                                                    "NotFound",
                                                    "AlreadyExists",
                                                    "PermissionDenied",
                                                    "ResourceExhausted",
                                                    "FailedPrecondition",
                                                    "Aborted",
                                                    "OutOfRange",
                                                    "Unimplemented",
                                                    "Internal",
                                                    "Unavailable",
                                                    "DataLoss",
                                                    "Unauthenticated"};

// Served without a protobuf descriptor (the default health service is
// built on upb), so not found by the descriptor lookup below.
constexpr std::array<const char*, 2> kHealthMethods = {"/grpc.health.v1.Health/Check",
                                                       "/grpc.health.v1.Health/Watch"};
// Series created at start, so dashboards see zeros before the first call.
constexpr std::array<const char*, 2> kPreregisteredServices = {
    "docshare.v1.SessionService", "docshare.v1.DocumentService"};

const char* TypeLabel(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY:
      return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

ServerRpcInfo::Type TypeOf(const google::protobuf::MethodDescriptor& m) {
  if (m.client_streaming() && m.server_streaming())
    return ServerRpcInfo::Type::BIDI_STREAMING;
  if (m.client_streaming()) return ServerRpcInfo::Type::CLIENT_STREAMING;
  if (m.server_streaming()) return ServerRpcInfo::Type::SERVER_STREAMING;
  return ServerRpcInfo::Type::UNARY;
}

// "/pkg.Service/Method" -> {"pkg.Service", "Method"} when this binary knows
// the method (its descriptor is linked in, or it is the health service).
std::pair<std::string, std::string> ServiceAndMethod(const char* path) {
  const std::string full = path == nullptr ? "" : path;
  const size_t slash = full.rfind('/');
  if (full.size() < 3 || full[0] != '/' || slash == 0 || slash == std::string::npos) {
    return {"unknown", "unknown"};
  }
  std::string service = full.substr(1, slash - 1);
  std::string method = full.substr(slash + 1);
  for (const char* health : kHealthMethods) {
    if (full == health) return {service, method};
  }
  if (google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
          service + "." + method) != nullptr) {
    return {service, method};
  }
  return {"unknown", "unknown"};
}

// The series of one method; pointers into the registry's families.
struct MethodSeries {
  Counter* started;
  Counter* received;
  Counter* sent;
  Histogram* handling;
  std::array<Counter*, kCodeNames.size()> handled;
};

class GrpcMetrics {
 public:
  explicit GrpcMetrics(prometheus::Registry& r)
      : started_(prometheus::BuildCounter()
                     .Name("grpc_server_started_total")
                     .Help("Total number of RPCs started on the server.")
                     .Register(r)),
        handled_(prometheus::BuildCounter()
                     .Name("grpc_server_handled_total")
                     .Help("Total number of RPCs completed on the server, regardless of "
                           "success or failure.")
                     .Register(r)),
        handling_(
            prometheus::BuildHistogram()
                .Name("grpc_server_handling_seconds")
                .Help("Histogram of response latency (seconds) of gRPC that had been "
                      "application-level handled by the server.")
                .Register(r)),
        received_(prometheus::BuildCounter()
                      .Name("grpc_server_msg_received_total")
                      .Help("Total number of RPC stream messages received on the server.")
                      .Register(r)),
        sent_(prometheus::BuildCounter()
                  .Name("grpc_server_msg_sent_total")
                  .Help("Total number of gRPC stream messages sent by the server.")
                  .Register(r)) {
    const auto* pool = google::protobuf::DescriptorPool::generated_pool();
    for (const char* name : kPreregisteredServices) {
      const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
      if (service == nullptr) continue;
      for (int i = 0; i < service->method_count(); ++i) {
        const google::protobuf::MethodDescriptor& m = *service->method(i);
        Series(TypeOf(m), "/" + service->full_name() + "/" + m.name());
      }
    }
  }

  const MethodSeries& Series(ServerRpcInfo::Type type, const char* path) {
    return Series(type, std::string(path == nullptr ? "" : path));
  }

  const MethodSeries& Series(ServerRpcInfo::Type type, const std::string& path) {
    absl::MutexLock lock(&mu_);
    auto key = std::make_pair(type, path);
    auto it = series_.find(key);
    if (it != series_.end()) return it->second;
    // Unknown names all share one entry, so the map stays as small as the
    // set of series.
    auto [service, method] = ServiceAndMethod(path.c_str());
    if (service == "unknown") key.second = "unknown";
    it = series_.find(key);
    if (it != series_.end()) return it->second;
    const Labels labels = {{"grpc_type", TypeLabel(type)},
                           {"grpc_service", service},
                           {"grpc_method", method}};
    MethodSeries s{&started_.Add(labels),
                   &received_.Add(labels),
                   &sent_.Add(labels),
                   &handling_.Add(labels, DurationBuckets()),
                   {}};
    for (size_t code = 0; code < kCodeNames.size(); ++code) {
      Labels with_code = labels;
      with_code["grpc_code"] = kCodeNames[code];
      s.handled[code] = &handled_.Add(with_code);
    }
    return series_.emplace(key, s).first->second;
  }

 private:
  Family<Counter>& started_;
  Family<Counter>& handled_;
  Family<Histogram>& handling_;
  Family<Counter>& received_;
  Family<Counter>& sent_;
  absl::Mutex mu_;
  // Node-based: references handed out stay valid as it grows.
  std::map<std::pair<ServerRpcInfo::Type, std::string>, MethodSeries> series_
      ABSL_GUARDED_BY(mu_);
};

class MetricsInterceptor final : public Interceptor {
 public:
  explicit MetricsInterceptor(const MethodSeries& series)
      : series_(series), started_(std::chrono::steady_clock::now()) {
    series_.started->Increment();
  }

  // Every RPC the server answers sends a status; a call torn down without
  // one (the server shutting down under it) counts as Canceled.
  ~MetricsInterceptor() override {
    if (!handled_.load()) Handled(grpc::StatusCode::CANCELLED);
  }

  void Intercept(InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {  // nullptr: the client closed its side
      series_.received->Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      series_.sent->Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Handled(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Handled(grpc::StatusCode code) {
    if (handled_.exchange(true)) return;
    const std::chrono::duration<double> took =
        std::chrono::steady_clock::now() - started_;
    series_.handling->Observe(took.count());
    const size_t index = static_cast<size_t>(code);
    series_
        .handled[index < kCodeNames.size() ? index : size_t{grpc::StatusCode::UNKNOWN}]
        ->Increment();
  }

  const MethodSeries& series_;
  const std::chrono::steady_clock::time_point started_;
  std::atomic<bool> handled_{false};
};

class GrpcMetricsFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit GrpcMetricsFactory(prometheus::Registry& registry) : metrics_(registry) {}

  Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_.Series(info->type(), info->method()));
  }

 private:
  GrpcMetrics metrics_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewGrpcMetricsFactory(prometheus::Registry& registry) {
  return std::make_unique<GrpcMetricsFactory>(registry);
}

}  // namespace docshare
