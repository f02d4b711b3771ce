#include "service/http/lifecycle_routes.h"

#include <utility>

#include "google/protobuf/util/json_util.h"
#include "service/http/api.h"
#include "service/http/event_json.h"

namespace docshare {
void LifecycleRoutes::GetSession(std::string session_id, const Caller& caller,
                                 ExchangePtr exchange) {
  auto call = [deps = deps_.lifecycle, session_id = std::move(session_id), caller,
               exchange] {
    v1::GetSessionRequest request;
    request.set_session_id(session_id);
    request.set_preview_delivery(v1::PREVIEW_DELIVERY_URL);
    v1::Session session;
    if (absl::Status s = DescribeSession(deps, caller, request, session); !s.ok()) {
      return exchange->Answer(ErrorResponse(s));
    }
    // Defaults printed: "watchers": 0 and "documents": [] are answers.
    absl::StatusOr<std::string> json = ToJson(session, JsonDefaults::kPrint);
    exchange->Answer(json.ok() ? JsonResponse(200, *std::move(json))
                               : ErrorResponse(json.status()));
  };
  if (!deps_.lifecycle.backplane.Dispatch(std::move(call)))
    exchange->Answer(BusyResponse());
}

void LifecycleRoutes::Withdraw(std::string session_id, std::string document_id,
                               const Caller& caller, ExchangePtr exchange) {
  v1::WithdrawDocumentRequest request;
  request.set_session_id(std::move(session_id));
  request.set_document_id(std::move(document_id));
  NoContent([deps = deps_.lifecycle, caller,
             request] { return WithdrawDocument(deps, caller, request); },
            std::move(exchange));
}

void LifecycleRoutes::Acknowledge(std::string session_id, std::string document_id,
                                  std::string_view body, const Caller& caller,
                                  ExchangePtr exchange) {
  v1::AcknowledgeDocumentRequest request;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  if (!google::protobuf::util::JsonStringToMessage(
           google::protobuf::StringPiece(body.data(), body.size()), &request, options)
           .ok()) {
    return exchange->Answer(ErrorResponse(absl::InvalidArgumentError(
        "the body must be JSON: {\"acknowledgement\": \"ACKNOWLEDGEMENT_DISPLAYED\"}")));
  }
  // The path names the document, whatever the body says.
  request.set_session_id(std::move(session_id));
  request.set_document_id(std::move(document_id));
  NoContent([deps = deps_.lifecycle, caller,
             request] { return AcknowledgeDocument(deps, caller, request); },
            std::move(exchange));
}

void LifecycleRoutes::NoContent(std::function<absl::Status()> call,
                                ExchangePtr exchange) {
  const bool queued =
      deps_.lifecycle.backplane.Dispatch([call = std::move(call), exchange] {
        const absl::Status s = call();
        if (!s.ok()) return exchange->Answer(ErrorResponse(s));
        HttpResponse response;
        response.status = 204;
        response.AddHeader("Cache-Control", "no-store");
        exchange->Answer(std::move(response));
      });
  if (!queued) exchange->Answer(BusyResponse());
}

}  // namespace docshare
