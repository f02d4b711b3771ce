#ifndef DOCSHARE_HTTP_API_H_
#define DOCSHARE_HTTP_API_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "service/auth/tokens.h"
#include "service/http/events.h"
#include "service/http/exchange.h"
#include "service/http/http_observer.h"
#include "service/http/lifecycle_routes.h"
#include "service/http/message.h"
#include "service/http/previews.h"
#include "service/http/uploads.h"

namespace docshare {

// The routes of the HTTP listener (DESIGN "HTTP"), apart from the server
// library: the server reads a request's headers, asks Admit, reads at most
// body_limit bytes of the body, then asks Handle. Runs on the server's event
// loop: nothing here blocks (a sniff of 4 KiB is the most it does).
class HttpApi {
 public:
  struct Deps {
    const TokenService& tokens;
    std::string admin_token;
    std::vector<std::string> cors_origins;
    HttpObserver& observer;
    // The session routes (previews, events); null: not served (404).
    PreviewRoute* previews = nullptr;
    EventsRoute* events = nullptr;
    UploadRoute* uploads = nullptr;
    LifecycleRoutes* lifecycle = nullptr;
    bool demo = false;  // --demo: web/demo.html at /demo
    // POST /v1/check's per-token rate (--token-check-file-rate, as CheckFile):
    // an error is answered 429 with Retry-After. Empty: no limit.
    std::function<absl::Status(const Caller&)> allow_check;
  };

  // What to do after the headers: answer now, or read up to `body_limit`
  // bytes of the body and call Handle.
  struct Admission {
    std::optional<HttpResponse> answer;
    size_t body_limit = 0;
    std::string_view route = "unknown";  // the metric label
  };

  explicit HttpApi(Deps deps);

  Admission Admit(const HttpRequest& request) const;
  // `body`: the first body_limit bytes of the body (fewer if it was shorter).
  // Answers through `exchange`, at once or later (after work off the loop).
  void Handle(const HttpRequest& request, std::string_view body,
              ExchangePtr exchange) const;

  // Headers every answer to `request` carries (CORS); the server adds them to
  // its own answers too (draining, malformed requests).
  void AddCommonHeaders(const HttpRequest& request, HttpResponse& response) const;

  HttpObserver& observer() const { return deps_.observer; }

 private:
  bool OriginAllowed(std::string_view origin) const;
  HttpResponse Preflight(const HttpRequest& request, std::string_view methods) const;
  HttpResponse Check(const HttpRequest& request, std::string_view body) const;

  Deps deps_;
};

// An error answer (JSON) for `status`, with Retry-After when it is a 503.
HttpResponse ErrorResponse(const absl::Status& status);
// 503: the store refused a dispatch (too many calls wait for it).
HttpResponse BusyResponse();
// A JSON answer, never cached.
HttpResponse JsonResponse(int status, std::string json);

}  // namespace docshare

#endif  // DOCSHARE_HTTP_API_H_
