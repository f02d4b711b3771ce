#include "service/pipeline/publish.h"

#include "service/common/status_macros.h"

namespace docshare {

absl::StatusOr<Published> Publish(SessionStore& backplane, std::string_view nonce,
                                  Document document) {
  auto shared = std::make_shared<const Document>(std::move(document));
  ASSIGN_OR_RETURN(EventPtr event, backplane.Append(shared->session_id, nonce, shared));
  return Published{std::move(shared), event->sequence};
}

}  // namespace docshare
