#ifndef DOCSHARE_PIPELINE_PUBLISH_H_
#define DOCSHARE_PIPELINE_PUBLISH_H_

#include <memory>

#include "absl/status/statusor.h"
#include "service/sessions/backplane.h"

namespace docshare {

// Stage 5: appends DocumentShared to the session's log (next sequence) and
// fans it out to the session's watchers. Returns the document as shared.
absl::StatusOr<std::shared_ptr<const Document>> Publish(Backplane& backplane,
                                                        Document document);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_PUBLISH_H_
