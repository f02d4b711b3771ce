#include <functional>
#include <utility>

#include "service/sessions/errors.h"
#include "service/transport/services.h"
#include "service/transport/status.h"

namespace docshare {

void FinishOffThread(const ServiceDeps& deps, grpc::ServerUnaryReactor* reactor,
                     std::function<absl::Status()> work) {
  const bool dispatched = deps.backplane.Dispatch(
      [reactor, work = std::move(work)] { reactor->Finish(ToGrpcStatus(work())); });
  if (!dispatched) reactor->Finish(ToGrpcStatus(StoreBusy()));
}

}  // namespace docshare
