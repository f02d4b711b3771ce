#include "service/pipeline/publish.h"

#include "service/common/status_macros.h"

namespace docshare {

absl::StatusOr<std::shared_ptr<const Document>> Publish(Backplane& backplane,
                                                        Document document) {
  auto shared = std::make_shared<const Document>(std::move(document));
  RETURN_IF_ERROR(backplane.Append(shared->session_id, shared).status());
  return shared;
}

}  // namespace docshare
