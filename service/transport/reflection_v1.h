#ifndef DOCSHARE_TRANSPORT_REFLECTION_V1_H_
#define DOCSHARE_TRANSPORT_REFLECTION_V1_H_

#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.grpc.pb.h"

namespace docshare {

// grpc.reflection.v1, which newer tools (grpcurl, Postman, grpcui) ask for
// before v1alpha. gRPC 1.51 serves only v1alpha (its reflection plugin); the
// two protocols are the same messages under another package, so this answers
// v1 from the same place v1alpha does: the linked-in generated descriptors.
class ReflectionV1Service final
    : public grpc::reflection::v1::ServerReflection::CallbackService {
 public:
  // `services`: the full names list_services answers with.
  explicit ReflectionV1Service(std::vector<std::string> services)
      : services_(std::move(services)) {}

  grpc::ServerBidiReactor<grpc::reflection::v1::ServerReflectionRequest,
                          grpc::reflection::v1::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* context) override;

  // One answer (exposed for its own tests): never blocks, reads only the
  // in-memory descriptor pool.
  grpc::reflection::v1::ServerReflectionResponse Answer(
      const grpc::reflection::v1::ServerReflectionRequest& request) const;

 private:
  const std::vector<std::string> services_;
};

}  // namespace docshare

#endif  // DOCSHARE_TRANSPORT_REFLECTION_V1_H_
