#ifndef DOCSHARE_PIPELINE_AUTHORIZE_H_
#define DOCSHARE_PIPELINE_AUTHORIZE_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "service/auth/tokens.h"
#include "service/sessions/backplane.h"

namespace docshare {

// Stage 1 of a share: the caller must be a participant of this start of the
// session, the session active, and the role allowed to share (agents
// always, consumers when the session allows). The admin may not share.
// NOT_FOUND unknown session; FAILED_PRECONDITION ended or expired;
// PERMISSION_DENIED otherwise refused.
absl::StatusOr<SessionInfo> AuthorizeShare(const Caller& caller, std::string_view session_id,
                                           Backplane& backplane);

// Watching needs a participant token of this start of the session, or the
// admin token. Same codes as AuthorizeShare.
absl::StatusOr<SessionInfo> AuthorizeWatch(const Caller& caller, std::string_view session_id,
                                           Backplane& backplane);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_AUTHORIZE_H_
