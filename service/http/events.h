#ifndef DOCSHARE_HTTP_EVENTS_H_
#define DOCSHARE_HTTP_EVENTS_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "service/auth/preview_url.h"
#include "service/auth/tokens.h"
#include "service/common/observer.h"
#include "service/http/exchange.h"
#include "service/http/http_observer.h"
#include "service/sessions/session_store.h"

namespace docshare {

// Decides whether one more watch stream may open (the watcher caps of
// transport/admission); the returned object is its place, given back when
// destroyed. RESOURCE_EXHAUSTED refuses.
using WatchAdmitter = std::function<absl::StatusOr<std::shared_ptr<void>>(
    const std::string&, const Caller&)>;

// GET /v1/sessions/{id}/events: the session's events as Server-Sent Events,
// URL delivery, resumed from Last-Event-ID or ?after_sequence=. The replay
// then live events, as WatchSession: the same bounded queue (a slow reader
// is cut off, and its EventSource reconnects and resumes), the same caps.
class EventsRoute {
 public:
  struct Deps {
    SessionStore& backplane;
    const PreviewUrlSigner& signer;
    HttpObserver& observer;
    Observer& sessions;   // a watcher's anomalies (Watcher)
    WatchAdmitter admit;  // null: no caps
    size_t watcher_queue = 256;
  };

  explicit EventsRoute(Deps deps) : deps_(std::move(deps)) {}

  // On the event loop: the token is checked here, the store is asked off the
  // loop, and the stream starts when the subscription is made.
  void Handle(const HttpRequest& request, std::string session_id, const Caller& caller,
              ExchangePtr exchange);

 private:
  Deps deps_;
};

// What a browser resumes after: Last-Event-ID (its reconnect sends it) wins
// over ?after_sequence=; neither is 0. INVALID_ARGUMENT when malformed.
absl::StatusOr<uint64_t> ResumeAfter(const HttpRequest& request);

}  // namespace docshare

#endif  // DOCSHARE_HTTP_EVENTS_H_
