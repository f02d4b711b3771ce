#include "service/http/uploads.h"

#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "service/http/api.h"
#include "service/http/errors.h"
#include "service/http/event_json.h"
#include "service/transport/convert.h"

namespace docshare {
namespace {

// One upload: the pipeline's share, fed from the loop, finished on the
// render pool.
struct Upload {
  std::unique_ptr<Pipeline::Share> share;
  ExchangePtr exchange;
};

// The Document as shared, its previews with signed URLs (URL delivery: the
// page shows what it shared from them, as watchers do).
HttpResponse Created(const Published& published, const SessionInfo& session,
                     const PreviewUrlSigner* signer) {
  v1::Document proto;
  const PreviewLinks links{signer, session.nonce, session.expires_at};
  ToProto(*published.document, published.sequence, &links, &proto);
  absl::StatusOr<std::string> json = ToJson(proto);
  if (!json.ok()) return ErrorResponse(json.status());
  return JsonResponse(201, *std::move(json));
}

}  // namespace

void UploadRoute::Handle(const HttpRequest& request, std::string session_id,
                         const Caller& caller, ExchangePtr exchange) {
  absl::StatusOr<std::optional<std::string>> filename =
      QueryParam(request.query, "filename");
  if (!filename.ok()) return exchange->Answer(ErrorResponse(filename.status()));
  ShareRequest share_request{
      .session_id = std::move(session_id),
      .filename = filename->value_or(""),
      .declared_mime_type = std::string(request.Header("content-type").value_or(""))};
  if (std::optional<std::string_view> length = request.Header("content-length")) {
    if (!absl::SimpleAtoi(absl::string_view(length->data(), length->size()),
                          &share_request.size_bytes)) {
      return exchange->Answer(
          ErrorResponse(absl::InvalidArgumentError("Content-Length is not a number")));
    }
  }
  auto upload = std::make_shared<Upload>(Upload{deps_.pipeline.NewShare(), exchange});
  auto begin = [this, upload, caller, share_request]() mutable {
    if (deps_.allow_share) {
      if (absl::Status s = deps_.allow_share(caller); !s.ok()) {
        return upload->exchange->Answer(ErrorResponse(CallerLimit(s)));
      }
    }
    if (absl::Status s = upload->share->Begin(caller, std::move(share_request));
        !s.ok()) {
      return upload->exchange->Answer(ErrorResponse(s));
    }
    upload->exchange->ReadBody(
        [upload, signer = deps_.signer](std::string_view piece, bool last) {
          if (absl::Status s = upload->share->AddChunk(piece); !s.ok()) {
            upload->exchange->Answer(ErrorResponse(s));
            return false;
          }
          if (!last) return true;
          upload->share->Finish([upload, signer](absl::StatusOr<Published> published) {
            upload->exchange->Answer(
                published.ok() ? Created(*published, upload->share->session(), signer)
                               : ErrorResponse(published.status()));
          });
          return true;
        });
  };
  if (!deps_.backplane.Dispatch(std::move(begin))) {
    exchange->Answer(BusyResponse());
  }
}

}  // namespace docshare
