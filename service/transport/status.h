#ifndef DOCSHARE_TRANSPORT_STATUS_H_
#define DOCSHARE_TRANSPORT_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"

namespace docshare {

inline constexpr char kRejectReasonTrailer[] = "docshare-reject-reason";
inline constexpr char kDetectedMimeTrailer[] = "docshare-detected-mime";
inline constexpr char kResumeAfterTrailer[] = "docshare-resume-after";

// The one conversion from domain status to gRPC status. A rejection also
// sets its trailing metadata on `context` (reason and detected MIME).
grpc::Status ToGrpcStatus(const absl::Status& status,
                          grpc::CallbackServerContext* context = nullptr);

}  // namespace docshare

#endif  // DOCSHARE_TRANSPORT_STATUS_H_
