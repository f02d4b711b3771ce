#include "service/http/api.h"

#include <algorithm>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "service/http/errors.h"
#include "service/http/event_json.h"
#include "service/pipeline/upload_buffer.h"
#include "service/transport/check_file.h"

namespace docshare {

extern const std::string_view kClientJs;  // web/docshare.js, embedded at build time
extern const std::string_view kDemoHtml;  // web/demo.html, likewise

namespace {

constexpr std::string_view kCheckPath = "/v1/check";
constexpr std::string_view kClientJsPath = "/v1/client.js";
constexpr std::string_view kDemoPath = "/demo";
constexpr std::string_view kSessionsPrefix = "/v1/sessions/";
constexpr std::string_view kEventsSuffix = "/events";
constexpr std::string_view kDocumentsSuffix = "/documents";
constexpr std::string_view kDocumentsInfix = "/documents/";
constexpr std::string_view kWithdrawAction = ":withdraw";
constexpr std::string_view kAcknowledgeAction = ":acknowledge";
// Seconds a browser may cache a preflight answer.
constexpr char kPreflightMaxAge[] = "600";
constexpr char kRetryAfterSeconds[] = "1";

enum class RouteId {
  kCheck,
  kClientJs,
  kDemo,
  kPreview,
  kEvents,
  kUpload,
  kSession,
  kWithdraw,
  kAcknowledge
};

struct Route {
  RouteId id;
  std::string_view methods;  // the Allow header
  std::string_view label;
  bool needs_token;  // checked before a byte of the body is read
};

constexpr Route kCheckRoute{RouteId::kCheck, "POST, OPTIONS", "check", true};
constexpr Route kClientJsRoute{RouteId::kClientJs, "GET, HEAD, OPTIONS", "client_js",
                               false};
constexpr Route kDemoRoute{RouteId::kDemo, "GET, HEAD", "demo", false};
// Signed URLs: no token, and no preflight (a plain GET needs none).
constexpr Route kPreviewRoute{RouteId::kPreview, "GET, HEAD", "preview", false};
constexpr Route kEventsRoute{RouteId::kEvents, "GET", "events", true};
constexpr Route kUploadRoute{RouteId::kUpload, "POST, OPTIONS", "upload", true};
// A fetch with Authorization from another origin is preflighted.
constexpr Route kSessionRoute{RouteId::kSession, "GET, OPTIONS", "session", true};
constexpr Route kWithdrawRoute{RouteId::kWithdraw, "POST, OPTIONS", "withdraw", true};
constexpr Route kAcknowledgeRoute{RouteId::kAcknowledge, "POST, OPTIONS", "acknowledge",
                                  true};

// The session id of /v1/sessions/{id}<suffix>, or nullopt.
std::optional<std::string_view> SessionOf(std::string_view path,
                                          std::string_view suffix) {
  if (!path.starts_with(kSessionsPrefix) || !path.ends_with(suffix)) return std::nullopt;
  path.remove_prefix(kSessionsPrefix.size());
  if (path.size() < suffix.size()) return std::nullopt;
  path.remove_suffix(suffix.size());
  if (path.empty() || path.find('/') != std::string_view::npos) return std::nullopt;
  return path;
}

// /v1/sessions/{session}/documents/{document}:{action}.
struct DocumentAction {
  std::string_view session;
  std::string_view document;
  std::string_view action;  // ":withdraw", ...
};

std::optional<DocumentAction> DocumentActionOf(std::string_view path) {
  if (!path.starts_with(kSessionsPrefix)) return std::nullopt;
  path.remove_prefix(kSessionsPrefix.size());
  const size_t infix = path.find(kDocumentsInfix);
  const size_t colon = path.rfind(':');
  if (infix == std::string_view::npos || colon == std::string_view::npos ||
      colon < infix) {
    return std::nullopt;
  }
  DocumentAction out{.session = path.substr(0, infix),
                     .document = path.substr(infix + kDocumentsInfix.size(),
                                             colon - infix - kDocumentsInfix.size()),
                     .action = path.substr(colon)};
  for (std::string_view part : {out.session, out.document}) {
    if (part.empty() || part.find('/') != std::string_view::npos) return std::nullopt;
  }
  return out;
}

const Route* FindRoute(std::string_view path, const HttpApi::Deps& deps) {
  if (path == kCheckPath) return &kCheckRoute;
  if (path == kClientJsPath) return &kClientJsRoute;
  if (deps.demo && path == kDemoPath) return &kDemoRoute;
  if (deps.previews != nullptr && path.starts_with(PreviewUrlSigner::kPathPrefix)) {
    return &kPreviewRoute;
  }
  if (deps.events != nullptr && SessionOf(path, kEventsSuffix)) return &kEventsRoute;
  if (deps.uploads != nullptr && SessionOf(path, kDocumentsSuffix)) return &kUploadRoute;
  if (deps.lifecycle == nullptr) return nullptr;
  if (SessionOf(path, "")) return &kSessionRoute;
  if (std::optional<DocumentAction> action = DocumentActionOf(path)) {
    if (action->action == kWithdrawAction) return &kWithdrawRoute;
    if (action->action == kAcknowledgeAction) return &kAcknowledgeRoute;
  }
  return nullptr;
}

bool MethodAllowed(const Route& route, std::string_view method) {
  for (std::string_view m : {"GET", "HEAD", "POST", "OPTIONS"}) {
    if (m == method) return route.methods.find(m) != std::string_view::npos;
  }
  return false;
}

// The caller, from `Authorization: Bearer` or `?access_token=` (for browser
// APIs that cannot set headers), never both.
absl::StatusOr<Caller> CallerOf(const HttpRequest& request, const TokenService& tokens,
                                std::string_view admin_token) {
  absl::StatusOr<std::optional<std::string>> query_token =
      QueryParam(request.query, "access_token");
  if (!query_token.ok()) return query_token.status();
  std::optional<std::string_view> header = request.Header("authorization");
  if (header && *query_token) {
    return absl::InvalidArgumentError(
        "send the token once: in the Authorization header or as access_token, not both");
  }
  if (*query_token) {
    return Authenticate(absl::StrCat("Bearer ", **query_token), admin_token, tokens);
  }
  return Authenticate(header.value_or(""), admin_token, tokens);
}

// The routes under /v1/sessions/{id}: the caller read, then the route.
void HandleSessionRoute(const HttpApi::Deps& deps, const Route& route,
                        const HttpRequest& request, std::string_view body,
                        ExchangePtr exchange) {
  absl::StatusOr<Caller> caller = CallerOf(request, deps.tokens, deps.admin_token);
  if (!caller.ok()) return exchange->Answer(ErrorResponse(caller.status()));
  const std::string_view path = request.path;
  switch (route.id) {
    case RouteId::kUpload:
      return deps.uploads->Handle(request,
                                  std::string(*SessionOf(path, kDocumentsSuffix)),
                                  *caller, std::move(exchange));
    case RouteId::kEvents:
      return deps.events->Handle(request, std::string(*SessionOf(path, kEventsSuffix)),
                                 *caller, std::move(exchange));
    case RouteId::kSession:
      return deps.lifecycle->GetSession(std::string(*SessionOf(path, "")), *caller,
                                        std::move(exchange));
    case RouteId::kWithdraw:
    case RouteId::kAcknowledge: {
      const DocumentAction action = *DocumentActionOf(path);
      if (route.id == RouteId::kWithdraw) {
        return deps.lifecycle->Withdraw(std::string(action.session),
                                        std::string(action.document), *caller,
                                        std::move(exchange));
      }
      return deps.lifecycle->Acknowledge(std::string(action.session),
                                         std::string(action.document), body, *caller,
                                         std::move(exchange));
    }
    default:
      break;
  }
  // Handle sends only the session routes here.
  std::abort();
}

}  // namespace

HttpResponse JsonResponse(int status, std::string json) {
  HttpResponse response;
  response.status = status;
  response.AddHeader("Content-Type", "application/json");
  response.AddHeader("Cache-Control", "no-store");
  response.body = std::move(json);
  return response;
}

HttpResponse BusyResponse() {
  return ErrorResponse(absl::UnavailableError("the server is busy; retry"));
}

HttpResponse ErrorResponse(const absl::Status& status) {
  HttpError error = ToHttpError(status);
  HttpResponse response = JsonResponse(error.status, std::move(error.json));
  if (error.retry_later) response.AddHeader("Retry-After", kRetryAfterSeconds);
  return response;
}

HttpApi::HttpApi(Deps deps) : deps_(std::move(deps)) {}

bool HttpApi::OriginAllowed(std::string_view origin) const {
  return std::find(deps_.cors_origins.begin(), deps_.cors_origins.end(), origin) !=
         deps_.cors_origins.end();
}

void HttpApi::AddCommonHeaders(const HttpRequest& request, HttpResponse& response) const {
  response.AddHeader("X-Content-Type-Options", "nosniff");
  // Answers differ by Origin: caches must keep them apart.
  response.AddHeader("Vary", "Origin");
  std::optional<std::string_view> origin = request.Header("origin");
  if (origin && OriginAllowed(*origin)) {
    response.AddHeader("Access-Control-Allow-Origin", std::string(*origin));
  }
}

HttpApi::Admission HttpApi::Admit(const HttpRequest& request) const {
  Admission admission;
  const Route* route = FindRoute(request.path, deps_);
  if (route == nullptr) {
    admission.answer = ErrorResponse(absl::NotFoundError("no such resource"));
    return admission;
  }
  admission.route = route->label;
  if (!MethodAllowed(*route, request.method)) {
    HttpResponse answer = ErrorResponse(absl::UnimplementedError(absl::StrCat(
        request.method, " is not allowed here; allowed: ", std::string(route->methods))));
    answer.status = 405;
    answer.AddHeader("Allow", std::string(route->methods));
    admission.answer = std::move(answer);
    return admission;
  }
  if (request.method == "OPTIONS") {
    admission.route = "preflight";
    admission.answer = Preflight(request, route->methods);
    return admission;
  }
  if (route->id == RouteId::kClientJs || route->id == RouteId::kDemo) {
    const bool js = route->id == RouteId::kClientJs;
    HttpResponse answer;
    answer.AddHeader("Content-Type",
                     js ? "text/javascript; charset=utf-8" : "text/html; charset=utf-8");
    answer.AddHeader("Cache-Control", "no-cache");
    answer.body = std::string(js ? kClientJs : kDemoHtml);
    admission.answer = std::move(answer);
    return admission;
  }
  if (route->needs_token) {
    absl::StatusOr<Caller> caller = CallerOf(request, deps_.tokens, deps_.admin_token);
    if (!caller.ok()) {
      admission.answer = ErrorResponse(caller.status());
      return admission;
    }
    // Before the body is read, as CheckFile's limit comes before its bytes.
    if (route->id == RouteId::kCheck && deps_.allow_check) {
      if (absl::Status allowed = deps_.allow_check(*caller); !allowed.ok()) {
        admission.answer = ErrorResponse(CallerLimit(std::move(allowed)));
        return admission;
      }
    }
  }
  if (route->id == RouteId::kAcknowledge) {
    admission.body_limit = LifecycleRoutes::kBodyLimit;
    return admission;
  }
  if (route->id != RouteId::kCheck) return admission;  // no body
  // POST /v1/check: the first 4 KiB at most.
  if (absl::StatusOr<std::optional<std::string>> filename =
          QueryParam(request.query, "filename");
      !filename.ok()) {
    admission.answer = ErrorResponse(filename.status());
    return admission;
  }
  admission.body_limit = UploadBuffer::kHeadBytes;
  return admission;
}

HttpResponse HttpApi::Preflight(const HttpRequest& request,
                                std::string_view methods) const {
  std::optional<std::string_view> origin = request.Header("origin");
  if (!origin || !OriginAllowed(*origin)) {
    return ErrorResponse(absl::PermissionDeniedError(
        "cross-origin requests from this origin are not allowed (--cors-origins)"));
  }
  HttpResponse response;
  response.status = 204;
  response.AddHeader("Access-Control-Allow-Methods", std::string(methods));
  response.AddHeader("Access-Control-Allow-Headers", "Authorization, Content-Type");
  response.AddHeader("Access-Control-Max-Age", kPreflightMaxAge);
  return response;
}

void HttpApi::Handle(const HttpRequest& request, std::string_view body,
                     ExchangePtr exchange) const {
  const Route* route = FindRoute(request.path, deps_);
  // Admit answers every other request itself: reaching here otherwise is a bug.
  if (route == nullptr) std::abort();
  switch (route->id) {
    case RouteId::kCheck:
      return exchange->Answer(Check(request, body));
    case RouteId::kPreview:
      return deps_.previews->Handle(request, std::move(exchange));
    case RouteId::kEvents:
    case RouteId::kUpload:
    case RouteId::kSession:
    case RouteId::kWithdraw:
    case RouteId::kAcknowledge:
      return HandleSessionRoute(deps_, *route, request, body, std::move(exchange));
    case RouteId::kClientJs:
    case RouteId::kDemo:
      break;
  }
  std::abort();
}

HttpResponse HttpApi::Check(const HttpRequest& request, std::string_view body) const {
  // Defaults printed: "supported": false is an answer.
  absl::StatusOr<std::string> json = ToJson(CheckHead(body), JsonDefaults::kPrint);
  if (!json.ok()) return ErrorResponse(json.status());
  return JsonResponse(200, *std::move(json));
}

}  // namespace docshare
