#include "service/http/events.h"

#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "service/common/status_macros.h"
#include "service/http/api.h"
#include "service/http/errors.h"
#include "service/http/event_json.h"
#include "service/pipeline/authorize.h"
#include "service/sessions/watcher.h"

namespace docshare {
namespace {

// How long a browser waits before reconnecting (EventSource's `retry`):
// after a drain or a cut-off, it resumes on another replica at once.
constexpr char kRetry[] = "retry: 1000\n\n";

// One SSE stream: a Watcher (the bounded queue shared with WatchSession's
// rules) fed by the store, drained by the server's loop one event at a time.
class SseStream final : public HttpStream,
                        public std::enable_shared_from_this<SseStream> {
 public:
  SseStream(const EventsRoute::Deps& deps, SessionInfo session)
      : deps_(deps),
        session_(std::move(session)),
        watcher_(
            deps.watcher_queue, [this] { Wake(); }, deps.sessions) {}

  Watcher& watcher() { return watcher_; }

  void Hold(std::unique_ptr<Subscription> live, std::shared_ptr<void> slot) {
    live_ = std::move(live);
    slot_ = std::move(slot);
  }

  void Attach(std::function<void()> wake) override {
    absl::MutexLock lock(&mu_);
    wake_ = std::move(wake);
  }

  std::optional<std::string> Next() override {
    if (!greeted_) {
      greeted_ = true;
      return std::string(kRetry);
    }
    if (finished_) return std::nullopt;
    EventPtr event = watcher_.Pop();
    if (event == nullptr) {
      // Cut off (too slow) or the store lost: the browser reconnects and
      // resumes after the last id it received.
      if (watcher_.overflowed() || watcher_.lost()) finished_ = true;
      return std::nullopt;
    }
    if (std::holds_alternative<SessionEnded>(event->event)) finished_ = true;
    v1::SessionEvent proto;
    ToUrlProto(*event, session_, deps_.signer, &proto);
    absl::StatusOr<std::string> sse = ToSse(proto);
    if (!sse.ok()) {  // a message protobuf cannot print: end, the client resumes
      deps_.observer.Anomaly("sse_encode");
      finished_ = true;
      return std::nullopt;
    }
    return *std::move(sse);
  }

  bool Finished() override { return finished_; }

  void Closed() override {
    deps_.observer.StreamsActive(-1);
    // Unsubscribing may wait for a delivery in progress (the Redis store can
    // read while it delivers): dispatched to the store. The task keeps this alive, so
    // the store never calls a freed watcher.
    std::shared_ptr<SseStream> self = shared_from_this();
    if (!deps_.backplane.Dispatch([self] { self->Release(); })) Release();
  }

 private:
  void Release() {
    live_.reset();
    slot_.reset();
  }

  void Wake() {
    std::function<void()> wake;
    {
      absl::MutexLock lock(&mu_);
      wake = wake_;
    }
    if (wake) wake();
  }

  const EventsRoute::Deps& deps_;
  const SessionInfo session_;
  Watcher watcher_;
  // Set before the stream starts, released once after it ends.
  std::unique_ptr<Subscription> live_;
  std::shared_ptr<void> slot_;
  // On the loop only.
  bool greeted_ = false;
  bool finished_ = false;
  absl::Mutex mu_;
  std::function<void()> wake_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<uint64_t> ResumeAfter(const HttpRequest& request) {
  uint64_t after = 0;
  if (std::optional<std::string_view> id = request.Header("last-event-id")) {
    if (!absl::SimpleAtoi(absl::string_view(id->data(), id->size()), &after)) {
      return absl::InvalidArgumentError("Last-Event-ID must be an event's sequence");
    }
    return after;
  }
  ASSIGN_OR_RETURN(std::optional<std::string> query,
                   QueryParam(request.query, "after_sequence"));
  if (query && !absl::SimpleAtoi(*query, &after)) {
    return absl::InvalidArgumentError("after_sequence must be a sequence number");
  }
  return after;
}

void EventsRoute::Handle(const HttpRequest& request, std::string session_id,
                         const Caller& caller, ExchangePtr exchange) {
  absl::StatusOr<uint64_t> after = ResumeAfter(request);
  if (!after.ok()) return exchange->Answer(ErrorResponse(after.status()));
  auto open = [this, session_id, caller, after = *after, exchange]() -> absl::Status {
    ASSIGN_OR_RETURN(SessionInfo session,
                     AuthorizeWatch(caller, session_id, deps_.backplane));
    std::shared_ptr<void> slot;
    if (deps_.admit) {
      absl::StatusOr<std::shared_ptr<void>> admitted = deps_.admit(session_id, caller);
      if (!admitted.ok()) return CallerLimit(admitted.status());
      slot = *std::move(admitted);
    }
    auto stream = std::make_shared<SseStream>(deps_, session);
    ASSIGN_OR_RETURN(SessionStore::Subscribed subscribed,
                     deps_.backplane.Subscribe(session_id, after, &stream->watcher()));
    const uint64_t last =
        subscribed.replay.empty() ? after : subscribed.replay.back()->sequence;
    stream->watcher().SetReplay(std::move(subscribed.replay));
    stream->Hold(std::move(subscribed.live), std::move(slot));
    HttpResponse head;
    head.AddHeader("Content-Type", "text/event-stream");
    head.AddHeader("Cache-Control", "no-store");
    // The log's end when the watch began (as WatchSession's metadata).
    head.AddHeader("docshare-last-sequence", absl::StrCat(last));
    deps_.observer.StreamsActive(+1);
    exchange->Stream(std::move(head), std::move(stream));
    return absl::OkStatus();
  };
  const bool queued = deps_.backplane.Dispatch([open, exchange] {
    if (absl::Status s = open(); !s.ok()) exchange->Answer(ErrorResponse(s));
  });
  if (!queued) {
    exchange->Answer(BusyResponse());
  }
}

}  // namespace docshare
