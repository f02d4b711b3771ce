#ifndef DOCSHARE_HTTP_UPLOADS_H_
#define DOCSHARE_HTTP_UPLOADS_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "service/auth/preview_url.h"
#include "service/auth/tokens.h"
#include "service/http/exchange.h"
#include "service/http/http_observer.h"
#include "service/pipeline/pipeline.h"

namespace docshare {

// POST /v1/sessions/{id}/documents?filename=: the body is the file, streamed
// through the same pipeline as ShareDocument (Content-Type is the declared
// MIME type, Content-Length the declared size): an unsupported type is
// refused after its first 4 KiB without reading the rest, the same limits
// and budgets apply. 201 with the Document JSON, previews with signed URLs.
class UploadRoute {
 public:
  struct Deps {
    Pipeline& pipeline;
    SessionStore& backplane;  // authorizing is dispatched to it
    HttpObserver& observer;
    // Signs the 201's preview URLs; null: `url` stays empty.
    const PreviewUrlSigner* signer = nullptr;
    // The per-token share rate (transport/admission); null: none.
    std::function<absl::Status(const Caller&)> allow_share;
  };

  explicit UploadRoute(Deps deps) : deps_(std::move(deps)) {}

  // On the loop: authorizing asks the store, so it is dispatched there; the
  // body is then read and fed to the pipeline as it arrives.
  void Handle(const HttpRequest& request, std::string session_id, const Caller& caller,
              ExchangePtr exchange);

 private:
  Deps deps_;
};

}  // namespace docshare

#endif  // DOCSHARE_HTTP_UPLOADS_H_
