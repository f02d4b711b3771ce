#ifndef DOCSHARE_TRANSPORT_LIFECYCLE_H_
#define DOCSHARE_TRANSPORT_LIFECYCLE_H_

#include "absl/status/status.h"
#include "docshare/v1/docshare.pb.h"
#include "service/auth/preview_url.h"
#include "service/auth/tokens.h"
#include "service/common/log.h"
#include "service/common/observer.h"
#include "service/sessions/session_store.h"

namespace docshare {

// The document lifecycle as both listeners serve it (gRPC's WithdrawDocument,
// AcknowledgeDocument and GetSession; HTTP's :withdraw, :acknowledge and
// GET /v1/sessions/{id}): who may, the store call, the metric and the log
// line, written once. Protobuf, no gRPC. Each may wait on the store (Redis):
// call them off gRPC's callback threads and off the HTTP event loop.
struct LifecycleDeps {
  SessionStore& backplane;
  Observer& observer;
  Logger& log;
  // Signs GetSession's URL previews; null (HTTP off): `url` stays empty.
  const PreviewUrlSigner* preview_urls = nullptr;
};

absl::Status WithdrawDocument(const LifecycleDeps& deps, const Caller& caller,
                              const v1::WithdrawDocumentRequest& request);

absl::Status AcknowledgeDocument(const LifecycleDeps& deps, const Caller& caller,
                                 const v1::AcknowledgeDocumentRequest& request);

absl::Status DescribeSession(const LifecycleDeps& deps, const Caller& caller,
                             const v1::GetSessionRequest& request, v1::Session& response);

}  // namespace docshare

#endif  // DOCSHARE_TRANSPORT_LIFECYCLE_H_
