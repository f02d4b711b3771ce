#ifndef DOCSHARE_TRANSPORT_STATUS_H_
#define DOCSHARE_TRANSPORT_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"

namespace docshare {

inline constexpr char kRejectReasonTrailer[] = "docshare-reject-reason";
inline constexpr char kDetectedMimeTrailer[] = "docshare-detected-mime";
inline constexpr char kResumeAfterTrailer[] = "docshare-resume-after";
inline constexpr char kLastSequenceHeader[] = "docshare-last-sequence";
// google.rpc.ErrorInfo.domain of every error.
inline constexpr char kErrorDomain[] = "docshare.v1";

// The one conversion from domain status to gRPC status. Every error carries
// a google.rpc.Status with one google.rpc.ErrorInfo (common/error_info.h says
// which reason) in its details (grpc-status-details-bin). A rejection also
// sets its trailing metadata on `context` (reason and detected MIME).
grpc::Status ToGrpcStatus(const absl::Status& status,
                          grpc::CallbackServerContext* context = nullptr);

// UNAVAILABLE, reason SERVER_DRAINING: a new call while the server drains.
absl::Status DrainingError();

}  // namespace docshare

#endif  // DOCSHARE_TRANSPORT_STATUS_H_
