#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/proto_buffer_writer.h"
#include "service/common/error_info.h"
#include "service/common/status_macros.h"
#include "service/pipeline/authorize.h"
#include "service/sessions/errors.h"
#include "service/sessions/watcher.h"
#include "service/transport/convert.h"
#include "service/transport/handoff.h"
#include "service/transport/lifecycle.h"
#include "service/transport/services.h"
#include "service/transport/status.h"

namespace docshare {
namespace {

absl::Status RequireAdmin(const Caller& caller) {
  if (!caller.admin) {
    return absl::PermissionDeniedError(
        "starting and ending sessions needs the admin token");
  }
  return absl::OkStatus();
}

}  // namespace

// One serialization per event for all of the session's watchers. An event
// carries its previews' bytes (~170 KB for a photo): serializing per watcher
// copied them once per watcher (500 watchers: 85 MB of memmove per event).
// Now the event is serialized once into a grpc::ByteBuffer, and each watcher
// sends its own copy of it, which only takes references to the same slices.
// Copies are made under the lock, so the shared buffer is never read by two
// threads at once. An entry lives while a watcher still holds the bytes. It
// is keyed by (session, sequence) and its event is checked, so an id started
// again (its sequences start at 1 again) is never answered with the earlier
// start's event.
class EventBytes {
 public:
  // The event's bytes, shared by its watchers: the caller keeps the returned
  // pointer while its write is in flight (so the others find it here) and
  // sends `*copy`, a copy made under the lock.
  // `links` null: inline delivery; else URL delivery (the URLs signed now,
  // shared by the watchers that send this event while it is in flight).
  absl::StatusOr<std::shared_ptr<const grpc::ByteBuffer>> Get(std::string_view session,
                                                              const EventPtr& event,
                                                              const PreviewLinks* links,
                                                              grpc::ByteBuffer* copy) {
    Key key(std::string(session), event->sequence, links != nullptr);
    {
      absl::MutexLock lock(&mu_);
      auto it = entries_.find(key);
      if (it != entries_.end() && SameOwner(it->second.source, event)) {
        if (auto bytes = it->second.bytes.lock()) {
          *copy = *bytes;
          return bytes;
        }
      }
    }
    v1::SessionEvent proto;
    ToProto(*event, links, &proto);
    auto bytes = std::make_shared<grpc::ByteBuffer>();
    bool own_buffer = false;
    grpc::Status serialized = grpc::SerializationTraits<v1::SessionEvent>::Serialize(
        proto, bytes.get(), &own_buffer);
    if (!serialized.ok()) {
      return absl::InternalError("could not serialize event: " +
                                 serialized.error_message());
    }
    absl::MutexLock lock(&mu_);
    *copy = *bytes;
    entries_[std::move(key)] = {event, bytes};
    if (entries_.size() >= prune_at_) {
      for (auto it = entries_.begin(); it != entries_.end();) {
        if (it->second.bytes.expired()) {
          entries_.erase(it++);
        } else {
          ++it;
        }
      }
      prune_at_ = std::max<size_t>(64, 2 * entries_.size());
    }
    return bytes;
  }

 private:
  using Key = std::tuple<std::string, uint64_t, bool>;  // session, sequence, URLs
  struct Entry {
    std::weak_ptr<const SessionEvent> source;
    std::weak_ptr<const grpc::ByteBuffer> bytes;
  };
  static bool SameOwner(const std::weak_ptr<const SessionEvent>& a, const EventPtr& b) {
    return !a.owner_before(b) && !b.owner_before(a);
  }

  absl::Mutex mu_;
  absl::flat_hash_map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
  size_t prune_at_ ABSL_GUARDED_BY(mu_) = 64;
};

namespace {

// One WatchSession stream: the replay, then live events, one write in
// flight. The backplane pushes into `watcher_` from any thread; writes start
// from the wake-up or from OnWriteDone.
class WatchReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                           public Drainable {
 public:
  WatchReactor(grpc::CallbackServerContext* context,
               const v1::WatchSessionRequest& request, const ServiceDeps& deps,
               StreamSet& streams, EventBytes& event_bytes)
      : context_(context),
        deps_(deps),
        streams_(streams),
        event_bytes_(event_bytes),
        session_id_(request.session_id()),
        by_url_(request.preview_delivery() == v1::PREVIEW_DELIVERY_URL) {
    watcher_ = std::make_unique<Watcher>(
        deps.watcher_queue, [this] { Pump(); }, deps.observer);
    if (!streams_.Add(this)) {
      HandOff(this);
      Finish(ToGrpcStatus(DrainingError()));
      return;
    }
    registered_ = true;
    // Authorizing and the replay read are store calls (Redis round trips):
    // dispatched to the store, never waiting on this gRPC callback thread. Until they
    // are done the stream is `subscribing_`: a cancel or a drain meanwhile is
    // held in `pending_` (finishing now could let gRPC delete the reactor
    // under the running call).
    {
      absl::MutexLock lock(&mu_);
      subscribing_ = true;
      in_subscribe_ = true;
    }
    auto subscribe = [this, request] { Subscribed(request, Subscribe(request)); };
    if (!deps_.backplane.Dispatch(subscribe)) {
      absl::MutexLock lock(&mu_);
      subscribing_ = false;
      in_subscribe_ = false;
      FinishLocked(ToGrpcStatus(StoreBusy()));
    }
  }

  void OnWriteDone(bool ok) override {
    TakeOver(this);
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) return FinishLocked(ToGrpcStatus(absl::CancelledError("write failed")));
    // The event's time is the store's clock's (injected), so is the delivery's.
    deps_.observer.EventDelivered(deps_.clock.Now() - in_flight_time_);
    if (ended_) return FinishLocked(grpc::Status::OK);
    PumpLocked();
  }

  void OnCancel() override {
    TakeOver(this);
    absl::MutexLock lock(&mu_);
    FinishLocked(ToGrpcStatus(absl::CancelledError("the client cancelled")));
  }

  void OnDone() override {
    TakeOver(this);
    {  // Subscribed may still be returning on a store thread
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WatchReactor* r)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(r->mu_) { return !r->in_subscribe_; },
          this));
    }
    subscription_.reset();  // after this, the backplane never calls Pump again
    if (registered_) streams_.Remove(this);
    if (counted_) {
      deps_.observer.WatchersActive(-1);
      deps_.log.Info("watcher_disconnected",
                     {{"session", session_id_},
                      {"code", static_cast<int>(final_code_)},
                      {"last_delivered", watcher_->last_delivered()}});
    }
    delete this;
  }

  void EndForDrain() override {
    absl::MutexLock lock(&mu_);
    const uint64_t last = watcher_->last_delivered();
    FinishLocked(ToGrpcStatus(WithErrorInfo(
        absl::UnavailableError(absl::StrCat(
            "the server is shutting down: resume with after_sequence=", last)),
        {std::string(kReasonDraining), {{"resume_after", std::to_string(last)}}})));
  }

 private:
  // Where the store ran the dispatched subscribe (this thread, for memory): the stream
  // starts, or ends with why it could not.
  void Subscribed(const v1::WatchSessionRequest& request, const absl::Status& status) {
    if (status.ok()) {
      deps_.observer.WatchersActive(+1);
      counted_ = true;
      deps_.log.Info("watcher_connected",
                     {{"session", session_id_},
                      {"role", role_ == Role::kUnknown ? std::string("admin")
                                                       : std::string(RoleName(role_))},
                      {"after_sequence", request.after_sequence()},
                      {"peer", context_->peer()}});
    }
    absl::MutexLock lock(&mu_);
    subscribing_ = false;
    if (!status.ok()) {
      FinishLocked(ToGrpcStatus(status));
    } else if (pending_.has_value()) {
      FinishLocked(*pending_);
    } else {
      // The replay ends at `last_sequence_`: the header goes out now, before
      // any event. No write can have started (PumpLocked waits for this), so
      // this is the call's only send of initial metadata: a write racing
      // ahead of it from the backplane's thread would have sent the headers
      // first (GRPC_CALL_ERROR_TOO_MANY_OPERATIONS when this came second).
      context_->AddInitialMetadata(kLastSequenceHeader, std::to_string(last_sequence_));
      HandOff(this);
      StartSendInitialMetadata();
      headers_sent_ = true;
      PumpLocked();
    }
    // Finish may have run OnDone on another thread already: it waits for
    // this, and nothing here touches the reactor after the unlock.
    in_subscribe_ = false;
  }

  absl::Status Subscribe(const v1::WatchSessionRequest& request) {
    ASSIGN_OR_RETURN(Caller caller, CallerOf(*context_, deps_));
    role_ = caller.admin ? Role::kUnknown : caller.claims.role;
    ASSIGN_OR_RETURN(SessionInfo info,
                     AuthorizeWatch(caller, request.session_id(), deps_.backplane));
    links_ = PreviewLinks{deps_.preview_urls, info.nonce, info.expires_at};
    if (deps_.admission != nullptr) {
      ASSIGN_OR_RETURN(
          slot_, deps_.admission->AdmitWatch(request.session_id(), TokenKey(caller)));
    }
    ASSIGN_OR_RETURN(SessionStore::Subscribed subscribed,
                     deps_.backplane.Subscribe(request.session_id(),
                                               request.after_sequence(), watcher_.get()));
    // after_sequence beyond the log is OUT_OF_RANGE, so with no replay the
    // log ends at after_sequence.
    last_sequence_ = subscribed.replay.empty() ? request.after_sequence()
                                               : subscribed.replay.back()->sequence;
    watcher_->SetReplay(std::move(subscribed.replay));
    subscription_ = std::move(subscribed.live);
    return absl::OkStatus();
  }

  void Pump() {
    absl::MutexLock lock(&mu_);
    PumpLocked();
  }

  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || writing_ || !headers_sent_) return;
    if (EventPtr event = watcher_->Pop()) {
      absl::StatusOr<std::shared_ptr<const grpc::ByteBuffer>> shared =
          event_bytes_.Get(session_id_, event, by_url_ ? &links_ : nullptr, &in_flight_);
      if (!shared.ok()) return FinishLocked(ToGrpcStatus(shared.status()));
      shared_ = *std::move(shared);
      ended_ = std::holds_alternative<SessionEnded>(event->event);
      in_flight_time_ = event->time;
      writing_ = true;
      HandOff(this);
      StartWrite(&in_flight_);
      return;
    }
    if (watcher_->lost()) {
      const uint64_t last = watcher_->last_delivered();
      context_->AddTrailingMetadata(kResumeAfterTrailer, std::to_string(last));
      FinishLocked(ToGrpcStatus(WithErrorInfo(
          absl::UnavailableError(absl::StrCat(
              "the session backplane is unreachable; resume with after_sequence=", last)),
          {std::string(kReasonBackplaneLost),
           {{"resume_after", std::to_string(last)}}})));
      return;
    }
    if (watcher_->overflowed()) {
      deps_.observer.WatcherOverflow();
      const uint64_t last = watcher_->last_delivered();
      context_->AddTrailingMetadata(kResumeAfterTrailer, std::to_string(last));
      FinishLocked(ToGrpcStatus(
          WithErrorInfo(absl::ResourceExhaustedError(absl::StrCat(
                            "the watcher fell more than ", deps_.watcher_queue,
                            " events behind; resume with after_sequence=", last)),
                        {std::string(kReasonWatcherTooSlow),
                         {{"resume_after", std::to_string(last)}}})));
    }
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    if (subscribing_) {  // Subscribed finishes with the first one
      if (!pending_.has_value()) pending_ = status;
      return;
    }
    finished_ = true;
    final_code_ = status.error_code();
    HandOff(this);
    Finish(status);
  }

  grpc::CallbackServerContext* context_;
  const ServiceDeps& deps_;
  StreamSet& streams_;
  EventBytes& event_bytes_;
  std::unique_ptr<Watcher> watcher_;
  std::unique_ptr<Subscription> subscription_;
  Admission::WatchSlot slot_;  // this stream's place under the watcher caps
  bool registered_ = false;
  bool counted_ = false;
  const std::string session_id_;
  const bool by_url_;   // PREVIEW_DELIVERY_URL
  PreviewLinks links_;  // set before the first write
  Role role_ = Role::kUnknown;
  uint64_t last_sequence_ = 0;  // the log's end when the watch began
  grpc::StatusCode final_code_ = grpc::StatusCode::OK;

  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;  // the event in flight is SessionEnded
  bool headers_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool subscribing_ ABSL_GUARDED_BY(mu_) =
      false;  // Subscribe runs dispatched to the store
  bool in_subscribe_ ABSL_GUARDED_BY(mu_) = false;  // until Subscribed has returned
  std::optional<grpc::Status> pending_ ABSL_GUARDED_BY(mu_);  // an end meanwhile
  absl::Time in_flight_time_ ABSL_GUARDED_BY(mu_);
  // The event in flight: this stream's copy of its serialized bytes, and
  // the buffer shared with the session's other watchers.
  grpc::ByteBuffer in_flight_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const grpc::ByteBuffer> shared_ ABSL_GUARDED_BY(mu_);
};

// A WatchSession refused before it starts.
class RefusedWatch final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
  void OnDone() override { delete this; }
};

absl::Status StartOf(const ServiceDeps& deps, const Caller& caller,
                     const v1::StartSessionRequest& request,
                     v1::StartSessionResponse& response) {
  RETURN_IF_ERROR(RequireAdmin(caller));
  if (!ValidSessionId(request.session_id())) {
    return absl::InvalidArgumentError(
        "session_id must be 1 to 128 characters of A-Z a-z 0-9 . _ -");
  }
  const absl::Duration ttl = request.ttl_seconds() == 0
                                 ? deps.default_ttl
                                 : absl::Seconds(request.ttl_seconds());
  if (ttl > deps.max_ttl) {
    return absl::InvalidArgumentError(
        absl::StrCat("ttl_seconds may be at most ", absl::ToInt64Seconds(deps.max_ttl)));
  }
  ASSIGN_OR_RETURN(
      SessionInfo info,
      deps.backplane.Start({request.session_id(), ttl, request.consumer_may_share()}));
  Claims claims{info.id, Role::kAgent, info.nonce, info.expires_at};
  response.set_session_id(info.id);
  response.set_agent_token(deps.tokens.Mint(claims));
  claims.role = Role::kConsumer;
  response.set_consumer_token(deps.tokens.Mint(claims));
  ToProto(info.expires_at, response.mutable_expires_at());
  deps.log.Info("session_started", {{"session", info.id},
                                    {"ttl_seconds", absl::ToInt64Seconds(ttl)},
                                    {"consumer_may_share", info.consumer_may_share}});
  return absl::OkStatus();
}

absl::Status EndOf(const ServiceDeps& deps, const Caller& caller,
                   const v1::EndSessionRequest& request,
                   v1::EndSessionResponse& response) {
  RETURN_IF_ERROR(RequireAdmin(caller));
  ASSIGN_OR_RETURN(uint32_t purged, deps.backplane.End(request.session_id(), "ended"));
  response.set_documents_purged(purged);
  deps.log.Info("session_ended", {{"session", request.session_id()},
                                  {"reason", "ended"},
                                  {"documents_purged", purged}});
  return absl::OkStatus();
}

absl::Status GetSessionOf(const ServiceDeps& deps, const Caller& caller,
                          const v1::GetSessionRequest& request, v1::Session& response) {
  return DescribeSession(LifecycleOf(deps), caller, request, response);
}

}  // namespace

grpc::ServerUnaryReactor* SessionServiceImpl::GetSession(
    grpc::CallbackServerContext* context, const v1::GetSessionRequest* request,
    v1::Session* response) {
  return UnaryOffThread(context, deps_, streams_, request, response, &GetSessionOf);
}

SessionServiceImpl::SessionServiceImpl(ServiceDeps deps, StreamSet& streams)
    : deps_(deps), streams_(streams), event_bytes_(std::make_unique<EventBytes>()) {}

SessionServiceImpl::~SessionServiceImpl() = default;

grpc::ServerUnaryReactor* SessionServiceImpl::StartSession(
    grpc::CallbackServerContext* context, const v1::StartSessionRequest* request,
    v1::StartSessionResponse* response) {
  return UnaryOffThread(context, deps_, streams_, request, response, &StartOf);
}

grpc::ServerUnaryReactor* SessionServiceImpl::EndSession(
    grpc::CallbackServerContext* context, const v1::EndSessionRequest* request,
    v1::EndSessionResponse* response) {
  return UnaryOffThread(context, deps_, streams_, request, response, &EndOf);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* SessionServiceImpl::WatchSession(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  v1::WatchSessionRequest parsed;
  grpc::ByteBuffer bytes = *request;
  grpc::Status status =
      grpc::SerializationTraits<v1::WatchSessionRequest>::Deserialize(&bytes, &parsed);
  if (!status.ok()) {
    // What a generated (non-raw) method answers to a request it cannot parse.
    auto* reactor = new RefusedWatch;
    reactor->Finish(ToGrpcStatus(absl::InternalError(
        "could not parse WatchSessionRequest: " + status.error_message())));
    return reactor;
  }
  return new WatchReactor(context, parsed, deps_, streams_, *event_bytes_);
}

}  // namespace docshare
