#include "service/pipeline/authorize.h"

#include "service/common/status_macros.h"
#include "service/sessions/errors.h"

namespace docshare {

absl::Status CheckSessionOfToken(const Caller& caller, std::string_view session_id) {
  if (!caller.admin && caller.claims.session_id != session_id) {
    return absl::PermissionDeniedError("the token belongs to another session");
  }
  return absl::OkStatus();
}

absl::Status CheckParticipant(const Caller& caller, std::string_view session_id,
                              const SessionInfo& info) {
  RETURN_IF_ERROR(CheckSessionOfToken(caller, session_id));
  if (!caller.admin && caller.claims.nonce != info.nonce) {
    return absl::PermissionDeniedError(
        "the token belongs to an earlier session with this id");
  }
  return absl::OkStatus();
}

namespace {

// The session as the caller may see it: a participant's token must name
// this session and this start of it (its nonce).
absl::StatusOr<SessionInfo> SessionOfCaller(const Caller& caller,
                                            std::string_view session_id,
                                            SessionStore& backplane) {
  RETURN_IF_ERROR(CheckSessionOfToken(caller, session_id));
  ASSIGN_OR_RETURN(SessionInfo info, backplane.Get(session_id));
  RETURN_IF_ERROR(CheckParticipant(caller, session_id, info));
  if (info.state != SessionState::kActive)
    return SessionNotActive(session_id, info.state);
  return info;
}

}  // namespace

absl::StatusOr<SessionInfo> AuthorizeShare(const Caller& caller,
                                           std::string_view session_id,
                                           SessionStore& backplane) {
  if (caller.admin) {
    return absl::PermissionDeniedError(
        "the admin token may not share: use the agent's or the consumer's token");
  }
  ASSIGN_OR_RETURN(SessionInfo info, SessionOfCaller(caller, session_id, backplane));
  if (caller.claims.role == Role::kConsumer && !info.consumer_may_share) {
    return absl::PermissionDeniedError("the consumer may not share in this session");
  }
  if (caller.claims.role != Role::kAgent && caller.claims.role != Role::kConsumer) {
    return absl::PermissionDeniedError("the token's role may not share");
  }
  return info;
}

absl::StatusOr<SessionInfo> AuthorizeWatch(const Caller& caller,
                                           std::string_view session_id,
                                           SessionStore& backplane) {
  return SessionOfCaller(caller, session_id, backplane);
}

absl::StatusOr<Role> AuthorizeWithdraw(const Caller& caller, std::string_view session_id,
                                       SessionStore& backplane) {
  RETURN_IF_ERROR(SessionOfCaller(caller, session_id, backplane).status());
  return caller.admin ? Role::kAdmin : caller.claims.role;
}

absl::StatusOr<Role> AuthorizeAcknowledge(const Caller& caller,
                                          std::string_view session_id,
                                          SessionStore& backplane) {
  if (caller.admin) {
    return absl::PermissionDeniedError(
        "the admin token may not acknowledge: acknowledgements are the participants'");
  }
  RETURN_IF_ERROR(SessionOfCaller(caller, session_id, backplane).status());
  return caller.claims.role;
}

}  // namespace docshare
