#ifndef DOCSHARE_SESSIONS_ERRORS_H_
#define DOCSHARE_SESSIONS_ERRORS_H_

// Every error a session store (memory or Redis) or the authorize stage
// answers, each written once: both stores and authorize build their
// statuses here, so a client reads the same words whichever replica and
// store served it.

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "service/sessions/session_store.h"

namespace docshare {

// NOT_FOUND: never started, or ended long enough ago to be forgotten.
absl::Status SessionNotFound(std::string_view id);
// FAILED_PRECONDITION: `state` is kEnded or kExpired.
absl::Status SessionNotActive(std::string_view id, SessionState state);
// FAILED_PRECONDITION: an append for a start of the session that is over
// (the id was ended and started again since the caller was authorized).
absl::Status SessionStartedAgain(std::string_view id);
// INVALID_ARGUMENT.
absl::Status NonPositiveTtl();
// ALREADY_EXISTS: the active session has other settings.
absl::Status SessionSettingsDiffer(std::string_view id, absl::Duration ttl,
                                   bool consumer_may_share);
// FAILED_PRECONDITION: the per-session caps.
absl::Status TooManyDocuments(std::string_view id, uint64_t documents);
absl::Status SessionBytesCap(std::string_view id, uint64_t held, uint64_t more,
                             uint64_t cap);
// RESOURCE_EXHAUSTED: the cap on preview bytes held by all sessions.
absl::Status RetainedBytesCap(uint64_t held, uint64_t more, uint64_t cap);
// INVALID_ARGUMENT: a caller's bug, not a client's.
absl::Status NoDocumentToAppend();
absl::Status NoSubscriber();
// NOT_FOUND (reason DOCUMENT_NOT_FOUND): no such document in the session.
absl::Status DocumentNotFound(std::string_view id, std::string_view document_id);
// PERMISSION_DENIED: only the sharing role or the admin may withdraw.
absl::Status WithdrawNotAllowed(std::string_view document_id, Role by, Role shared_by);
// FAILED_PRECONDITION (reason DOCUMENT_WITHDRAWN).
absl::Status DocumentIsWithdrawn(std::string_view document_id);
// NOT_FOUND: a preview URL names no document of this start of the session.
absl::Status NoSuchDocument(std::string_view id, uint64_t sequence);
// RESOURCE_EXHAUSTED: SessionStore::Dispatch refused (too many calls wait).
absl::Status StoreBusy();
// OUT_OF_RANGE.
absl::Status AfterSequenceBeyondEnd(std::string_view id, uint64_t after, uint64_t last);

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_ERRORS_H_
