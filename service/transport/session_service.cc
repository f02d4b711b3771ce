#include <algorithm>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/proto_buffer_writer.h"
#include "service/common/status_macros.h"
#include "service/pipeline/authorize.h"
#include "service/sessions/watcher.h"
#include "service/transport/convert.h"
#include "service/transport/services.h"
#include "service/transport/status.h"

namespace docshare {
namespace {

absl::Status RequireAdmin(const grpc::CallbackServerContext& context, const ServiceDeps& deps) {
  ASSIGN_OR_RETURN(Caller caller, CallerOf(context, deps));
  if (!caller.admin) {
    return absl::PermissionDeniedError("starting and ending sessions needs the admin token");
  }
  return absl::OkStatus();
}

// One serialization per event for all of the session's watchers. An event
// carries its previews' bytes (~170 KB for a photo): serializing per watcher
// copied them once per watcher (500 watchers: 85 MB of memmove per event).
// Now the event is serialized once into a grpc::ByteBuffer, and each watcher
// sends its own copy of it, which only takes references to the same slices.
// Copies are made under the lock, so the shared buffer is never read by two
// threads at once. An entry lives while a watcher still holds the bytes; the
// key's owner is checked, so a new event at a reused address is never
// answered with an old one.
class EventBytes {
 public:
  // The event's bytes, shared by its watchers: the caller keeps the returned
  // pointer while its write is in flight (so the others find it here) and
  // sends `*copy`, a copy made under the lock.
  absl::StatusOr<std::shared_ptr<const grpc::ByteBuffer>> Get(const EventPtr& event,
                                                              grpc::ByteBuffer* copy) {
    {
      std::lock_guard lock(mu_);
      auto it = entries_.find(event.get());
      if (it != entries_.end() && SameOwner(it->second.source, event)) {
        if (auto bytes = it->second.bytes.lock()) {
          *copy = *bytes;
          return bytes;
        }
      }
    }
    v1::SessionEvent proto;
    ToProto(*event, &proto);
    auto bytes = std::make_shared<grpc::ByteBuffer>();
    bool own_buffer = false;
    grpc::Status serialized = grpc::SerializationTraits<v1::SessionEvent>::Serialize(
        proto, bytes.get(), &own_buffer);
    if (!serialized.ok()) {
      return absl::InternalError("could not serialize event: " +
                                 serialized.error_message());
    }
    std::lock_guard lock(mu_);
    *copy = *bytes;
    entries_[event.get()] = {event, bytes};
    if (entries_.size() >= prune_at_) {
      std::erase_if(entries_, [](const auto& e) { return e.second.bytes.expired(); });
      prune_at_ = std::max<size_t>(64, 2 * entries_.size());
    }
    return bytes;
  }

  static EventBytes& Instance() {
    static auto* bytes = new EventBytes;
    return *bytes;
  }

 private:
  struct Entry {
    std::weak_ptr<const SessionEvent> source;
    std::weak_ptr<const grpc::ByteBuffer> bytes;
  };
  static bool SameOwner(const std::weak_ptr<const SessionEvent>& a, const EventPtr& b) {
    return !a.owner_before(b) && !b.owner_before(a);
  }

  std::mutex mu_;
  std::unordered_map<const SessionEvent*, Entry> entries_;
  size_t prune_at_ = 64;
};

// One WatchSession stream: the replay, then live events, one write in
// flight. The backplane pushes into `watcher_` from any thread; writes start
// from the wake-up or from OnWriteDone.
class WatchReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                           public Drainable {
 public:
  WatchReactor(grpc::CallbackServerContext* context, const v1::WatchSessionRequest& request,
               const ServiceDeps& deps, StreamSet& streams)
      : context_(context), deps_(deps), streams_(streams) {
    watcher_ = std::make_unique<Watcher>(deps.watcher_queue, [this] { Pump(); });
    if (!streams_.Add(this)) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is draining"));
      return;
    }
    registered_ = true;
    if (absl::Status s = Subscribe(request); !s.ok()) {
      std::lock_guard lock(mu_);
      FinishLocked(ToGrpcStatus(s));
      return;
    }
    deps_.observer.WatchersActive(+1);
    counted_ = true;
    session_id_ = request.session_id();
    deps_.log.Info("watcher_connected", {{"session", session_id_},
                                         {"role", role_ == Role::kUnknown ? std::string("admin") : std::string(RoleName(role_))},
                                         {"after_sequence", request.after_sequence()},
                                         {"peer", context_->peer()}});
    Pump();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) return FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
    deps_.observer.EventDelivered(absl::Now() - in_flight_time_);
    if (ended_) return FinishLocked(grpc::Status::OK);
    PumpLocked();
  }

  void OnCancel() override {
    std::lock_guard lock(mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
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
    std::lock_guard lock(mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              absl::StrCat("the server is shutting down: resume with "
                                           "after_sequence=",
                                           watcher_->last_delivered())));
  }

 private:
  absl::Status Subscribe(const v1::WatchSessionRequest& request) {
    ASSIGN_OR_RETURN(Caller caller, CallerOf(*context_, deps_));
    role_ = caller.admin ? Role::kUnknown : caller.claims.role;
    RETURN_IF_ERROR(AuthorizeWatch(caller, request.session_id(), deps_.backplane).status());
    ASSIGN_OR_RETURN(Backplane::Subscribed subscribed,
                     deps_.backplane.Subscribe(request.session_id(),
                                               request.after_sequence(), watcher_.get()));
    watcher_->SetReplay(std::move(subscribed.replay));
    subscription_ = std::move(subscribed.live);
    return absl::OkStatus();
  }

  void Pump() {
    std::lock_guard lock(mu_);
    PumpLocked();
  }

  void PumpLocked() {
    if (finished_ || writing_) return;
    if (EventPtr event = watcher_->Pop()) {
      absl::StatusOr<std::shared_ptr<const grpc::ByteBuffer>> shared =
          EventBytes::Instance().Get(event, &in_flight_);
      if (!shared.ok()) return FinishLocked(ToGrpcStatus(shared.status()));
      shared_ = *std::move(shared);
      ended_ = std::holds_alternative<SessionEnded>(event->event);
      in_flight_time_ = event->time;
      writing_ = true;
      StartWrite(&in_flight_);
      return;
    }
    if (watcher_->lost()) {
      const uint64_t last = watcher_->last_delivered();
      context_->AddTrailingMetadata(kResumeAfterTrailer, std::to_string(last));
      FinishLocked(grpc::Status(
          grpc::StatusCode::UNAVAILABLE,
          absl::StrCat("the session backplane is unreachable; resume with after_sequence=",
                       last)));
      return;
    }
    if (watcher_->overflowed()) {
      deps_.observer.WatcherOverflow();
      const uint64_t last = watcher_->last_delivered();
      context_->AddTrailingMetadata(kResumeAfterTrailer, std::to_string(last));
      FinishLocked(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("the watcher fell more than ", deps_.watcher_queue,
                       " events behind; resume with after_sequence=", last)));
    }
  }

  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    final_code_ = status.error_code();
    Finish(status);
  }

  grpc::CallbackServerContext* context_;
  const ServiceDeps& deps_;
  StreamSet& streams_;
  std::unique_ptr<Watcher> watcher_;
  std::unique_ptr<Subscription> subscription_;
  bool registered_ = false;
  bool counted_ = false;
  std::string session_id_;
  Role role_ = Role::kUnknown;
  grpc::StatusCode final_code_ = grpc::StatusCode::OK;

  std::mutex mu_;
  bool writing_ = false;
  bool finished_ = false;
  bool ended_ = false;  // the event in flight is SessionEnded
  absl::Time in_flight_time_;
  // The event in flight: this stream's copy of its serialized bytes, and
  // the buffer shared with the session's other watchers.
  grpc::ByteBuffer in_flight_;
  std::shared_ptr<const grpc::ByteBuffer> shared_;
};

// A WatchSession refused before it starts.
class RefusedWatch final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
  void OnDone() override { delete this; }
};

}  // namespace

absl::Status SessionServiceImpl::Start(const grpc::CallbackServerContext& context,
                                       const v1::StartSessionRequest& request,
                                       v1::StartSessionResponse& response) {
  if (streams_.draining()) return absl::UnavailableError("the server is draining");
  RETURN_IF_ERROR(RequireAdmin(context, deps_));
  if (!ValidSessionId(request.session_id())) {
    return absl::InvalidArgumentError(
        "session_id must be 1 to 128 characters of A-Z a-z 0-9 . _ -");
  }
  const absl::Duration ttl = request.ttl_seconds() == 0
                                 ? deps_.default_ttl
                                 : absl::Seconds(request.ttl_seconds());
  if (ttl > deps_.max_ttl) {
    return absl::InvalidArgumentError(
        absl::StrCat("ttl_seconds may be at most ", absl::ToInt64Seconds(deps_.max_ttl)));
  }
  ASSIGN_OR_RETURN(SessionInfo info,
                   deps_.backplane.Start({request.session_id(), ttl,
                                          request.consumer_may_share()}));
  Claims claims{info.id, Role::kAgent, info.nonce, info.expires_at};
  response.set_session_id(info.id);
  response.set_agent_token(deps_.tokens.Mint(claims));
  claims.role = Role::kConsumer;
  response.set_consumer_token(deps_.tokens.Mint(claims));
  ToProto(info.expires_at, response.mutable_expires_at());
  deps_.log.Info("session_started", {{"session", info.id},
                                     {"ttl_seconds", absl::ToInt64Seconds(ttl)},
                                     {"consumer_may_share", info.consumer_may_share}});
  return absl::OkStatus();
}

absl::Status SessionServiceImpl::End(const grpc::CallbackServerContext& context,
                                     const v1::EndSessionRequest& request,
                                     v1::EndSessionResponse& response) {
  if (streams_.draining()) return absl::UnavailableError("the server is draining");
  RETURN_IF_ERROR(RequireAdmin(context, deps_));
  ASSIGN_OR_RETURN(uint32_t purged, deps_.backplane.End(request.session_id(), "ended"));
  response.set_documents_purged(purged);
  deps_.log.Info("session_ended", {{"session", request.session_id()},
                                   {"reason", "ended"},
                                   {"documents_purged", purged}});
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* SessionServiceImpl::StartSession(
    grpc::CallbackServerContext* context, const v1::StartSessionRequest* request,
    v1::StartSessionResponse* response) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(Start(*context, *request, *response)));
  return reactor;
}

grpc::ServerUnaryReactor* SessionServiceImpl::EndSession(grpc::CallbackServerContext* context,
                                                         const v1::EndSessionRequest* request,
                                                         v1::EndSessionResponse* response) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(End(*context, *request, *response)));
  return reactor;
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
    reactor->Finish(
        grpc::Status(grpc::StatusCode::INTERNAL,
                     "could not parse WatchSessionRequest: " + status.error_message()));
    return reactor;
  }
  return new WatchReactor(context, parsed, deps_, streams_);
}

}  // namespace docshare
