#ifndef DOCSHARE_HTTP_LIFECYCLE_ROUTES_H_
#define DOCSHARE_HTTP_LIFECYCLE_ROUTES_H_

#include <string>
#include <string_view>

#include "service/auth/tokens.h"
#include "service/http/exchange.h"
#include "service/transport/lifecycle.h"

namespace docshare {

// The document lifecycle over HTTP (DESIGN "HTTP"): GET /v1/sessions/{id}
// (the Session as GetSession, URL previews), POST …/documents/{id}:withdraw
// and :acknowledge (204). The rules, store calls and errors are gRPC's
// (transport/lifecycle.h); each call is dispatched to the store, never
// waiting on the event loop.
class LifecycleRoutes {
 public:
  struct Deps {
    LifecycleDeps lifecycle;  // its store runs the calls (Dispatch)
  };

  explicit LifecycleRoutes(Deps deps) : deps_(deps) {}

  void GetSession(std::string session_id, const Caller& caller, ExchangePtr exchange);
  void Withdraw(std::string session_id, std::string document_id, const Caller& caller,
                ExchangePtr exchange);
  // `body`: {"acknowledgement": "ACKNOWLEDGEMENT_DISPLAYED"} (protobuf JSON).
  void Acknowledge(std::string session_id, std::string document_id, std::string_view body,
                   const Caller& caller, ExchangePtr exchange);

  // The most of an acknowledgement's body that is read.
  static constexpr size_t kBodyLimit = 1024;

 private:
  // Runs `call` off the loop and answers 204 (or the error).
  void NoContent(std::function<absl::Status()> call, ExchangePtr exchange);

  Deps deps_;
};

}  // namespace docshare

#endif  // DOCSHARE_HTTP_LIFECYCLE_ROUTES_H_
