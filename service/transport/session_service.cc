#include <algorithm>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "absl/strings/str_cat.h"
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

// One proto per event for all of the session's watchers. Converting an event
// copies its previews' bytes, so converting per watcher cost watchers x
// preview bytes of copies (and allocations) per event; now every watcher
// writes the same immutable message. Concurrent serialization of one const
// message is safe (protobuf's cached size is atomic). An entry lives while a
// watcher still holds its proto; the key's owner is checked, so a new event at
// a reused address is never answered with an old proto.
class EventProtos {
 public:
  std::shared_ptr<const v1::SessionEvent> Get(const EventPtr& event) {
    {
      std::lock_guard lock(mu_);
      auto it = entries_.find(event.get());
      if (it != entries_.end() && SameOwner(it->second.source, event)) {
        if (auto proto = it->second.proto.lock()) return proto;
      }
    }
    auto proto = std::make_shared<v1::SessionEvent>();
    ToProto(*event, proto.get());
    proto->ByteSizeLong();  // the size is cached once, before sharing
    std::lock_guard lock(mu_);
    entries_[event.get()] = {event, proto};
    if (entries_.size() >= prune_at_) {
      std::erase_if(entries_, [](const auto& e) { return e.second.proto.expired(); });
      prune_at_ = std::max<size_t>(64, 2 * entries_.size());
    }
    return proto;
  }

  static EventProtos& Instance() {
    static auto* protos = new EventProtos;
    return *protos;
  }

 private:
  struct Entry {
    std::weak_ptr<const SessionEvent> source;
    std::weak_ptr<const v1::SessionEvent> proto;
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
class WatchReactor final : public grpc::ServerWriteReactor<v1::SessionEvent>,
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
      event_ = EventProtos::Instance().Get(event);
      ended_ = std::holds_alternative<SessionEnded>(event->event);
      in_flight_time_ = event->time;
      writing_ = true;
      StartWrite(event_.get());
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
  std::shared_ptr<const v1::SessionEvent> event_;  // in flight, shared with other watchers
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

grpc::ServerWriteReactor<v1::SessionEvent>* SessionServiceImpl::WatchSession(
    grpc::CallbackServerContext* context, const v1::WatchSessionRequest* request) {
  return new WatchReactor(context, *request, deps_, streams_);
}

}  // namespace docshare
