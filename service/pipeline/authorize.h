#ifndef DOCSHARE_PIPELINE_AUTHORIZE_H_
#define DOCSHARE_PIPELINE_AUTHORIZE_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "service/auth/tokens.h"
#include "service/sessions/session_store.h"

namespace docshare {

// Stage 1 of a share: the caller must be a participant of this start of the
// session, the session active, and the role allowed to share (agents
// always, consumers when the session allows). The admin may not share.
// NOT_FOUND unknown session; FAILED_PRECONDITION ended or expired;
// PERMISSION_DENIED otherwise refused.
absl::StatusOr<SessionInfo> AuthorizeShare(const Caller& caller,
                                           std::string_view session_id,
                                           SessionStore& backplane);

// Watching needs a participant token of this start of the session, or the
// admin token. Same codes as AuthorizeShare.
absl::StatusOr<SessionInfo> AuthorizeWatch(const Caller& caller,
                                           std::string_view session_id,
                                           SessionStore& backplane);

// Withdrawing: a participant of this start of the active session, or the
// admin; returns the role that withdraws (kAdmin for the admin). Whether
// that role may withdraw the document is the store's check (it knows who
// shared it).
absl::StatusOr<Role> AuthorizeWithdraw(const Caller& caller, std::string_view session_id,
                                       SessionStore& backplane);

// Acknowledging: participants only (the admin: PERMISSION_DENIED).
absl::StatusOr<Role> AuthorizeAcknowledge(const Caller& caller,
                                          std::string_view session_id,
                                          SessionStore& backplane);

// Viewing a session in any state (GetSession): PERMISSION_DENIED unless the
// caller is the admin or a participant of the start `info` describes.
absl::Status CheckParticipant(const Caller& caller, std::string_view session_id,
                              const SessionInfo& info);
// The cheap half, before any lookup: a participant's token names this id.
absl::Status CheckSessionOfToken(const Caller& caller, std::string_view session_id);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_AUTHORIZE_H_
