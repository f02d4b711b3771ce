#ifndef DOCSHARE_PIPELINE_PUBLISH_H_
#define DOCSHARE_PIPELINE_PUBLISH_H_

#include <memory>

#include "absl/status/statusor.h"
#include "service/sessions/session_store.h"

namespace docshare {

// A document as shared, and the sequence of its DocumentShared (what its
// preview URLs name).
struct Published {
  std::shared_ptr<const Document> document;
  uint64_t sequence = 0;
};

// Stage 5: appends DocumentShared to the session's log (next sequence) and
// fans it out to the session's watchers, if the session is still the start
// (`nonce`) the share was authorized for. Returns the document as shared.
absl::StatusOr<Published> Publish(SessionStore& backplane, std::string_view nonce,
                                  Document document);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_PUBLISH_H_
