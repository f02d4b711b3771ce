#include "service/transport/status.h"

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "service/common/error_info.h"
#include "service/common/reject.h"

namespace docshare {

grpc::Status ToGrpcStatus(const absl::Status& status,
                          grpc::CallbackServerContext* context) {
  if (status.ok()) return grpc::Status::OK;
  const RejectReason reason = GetRejectReason(status);
  if (context != nullptr && reason != RejectReason::kNone) {
    context->AddTrailingMetadata(kRejectReasonTrailer,
                                 std::string(RejectReasonName(reason)));
    context->AddTrailingMetadata(kDetectedMimeTrailer, GetDetectedMime(status));
  }
  const ErrorInfo info = GetErrorInfo(status);
  google::rpc::ErrorInfo error_info;
  error_info.set_reason(info.reason);
  error_info.set_domain(std::string(kErrorDomain));
  for (const auto& [key, value] : info.metadata) {
    (*error_info.mutable_metadata())[key] = value;
  }
  // absl and gRPC share the canonical code numbers.
  google::rpc::Status details;
  details.set_code(static_cast<int>(status.code()));
  details.set_message(std::string(status.message()));
  details.add_details()->PackFrom(error_info);
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()), details.SerializeAsString());
}

absl::Status DrainingError() {
  return WithErrorInfo(absl::UnavailableError("the server is draining"),
                       {std::string(kReasonDraining), {}});
}

}  // namespace docshare
