#include "service/transport/status.h"

#include "service/common/reject.h"

namespace docshare {

grpc::Status ToGrpcStatus(const absl::Status& status, grpc::CallbackServerContext* context) {
  if (status.ok()) return grpc::Status::OK;
  const RejectReason reason = GetRejectReason(status);
  if (context != nullptr && reason != RejectReason::kNone) {
    context->AddTrailingMetadata(kRejectReasonTrailer, std::string(RejectReasonName(reason)));
    context->AddTrailingMetadata(kDetectedMimeTrailer, GetDetectedMime(status));
  }
  // absl and gRPC share the canonical code numbers.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace docshare
