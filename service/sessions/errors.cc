#include "service/sessions/errors.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "service/common/error_info.h"

namespace docshare {

absl::Status SessionNotFound(std::string_view id) {
  return absl::NotFoundError(absl::StrCat("session ", std::string(id), " not found"));
}

absl::Status SessionNotActive(std::string_view id, SessionState state) {
  return absl::FailedPreconditionError(
      absl::StrCat("session ", std::string(id),
                   state == SessionState::kExpired ? " has expired" : " has ended"));
}

absl::Status SessionStartedAgain(std::string_view id) {
  return absl::FailedPreconditionError(
      absl::StrCat("session ", std::string(id),
                   " has ended and was started again: this upload belonged to the "
                   "earlier session"));
}

absl::Status NonPositiveTtl() {
  return absl::InvalidArgumentError("session ttl must be positive");
}

absl::Status SessionSettingsDiffer(std::string_view id, absl::Duration ttl,
                                   bool consumer_may_share) {
  return absl::AlreadyExistsError(
      absl::StrCat("session ", std::string(id), " is active with other settings (ttl ",
                   absl::FormatDuration(ttl), ", consumer_may_share ",
                   consumer_may_share ? "true" : "false", ")"));
}

absl::Status TooManyDocuments(std::string_view id, uint64_t documents) {
  return absl::FailedPreconditionError(absl::StrCat("session ", std::string(id),
                                                    " already holds ", documents,
                                                    " documents, the most allowed"));
}

absl::Status SessionBytesCap(std::string_view id, uint64_t held, uint64_t more,
                             uint64_t cap) {
  return absl::FailedPreconditionError(
      absl::StrCat("session ", std::string(id), " holds ", held, " preview bytes; ", more,
                   " more would pass its cap of ", cap));
}

absl::Status RetainedBytesCap(uint64_t held, uint64_t more, uint64_t cap) {
  return absl::ResourceExhaustedError(absl::StrCat("the service already holds ", held,
                                                   " preview bytes; ", more,
                                                   " more would pass its cap of ", cap));
}

absl::Status NoDocumentToAppend() {
  return absl::InvalidArgumentError("no document to append");
}

absl::Status NoSubscriber() { return absl::InvalidArgumentError("no subscriber"); }

absl::Status DocumentNotFound(std::string_view id, std::string_view document_id) {
  return WithErrorInfo(
      absl::NotFoundError(absl::StrCat("document ", std::string(document_id),
                                       " not found in session ", std::string(id))),
      {std::string(kReasonDocumentNotFound),
       {{"document_id", std::string(document_id)}}});
}

absl::Status WithdrawNotAllowed(std::string_view document_id, Role by, Role shared_by) {
  return absl::PermissionDeniedError(
      absl::StrCat("document ", std::string(document_id), " was shared by the ",
                   std::string(RoleName(shared_by)),
                   ": only that role or the admin may withdraw it, not the ",
                   std::string(RoleName(by))));
}

absl::Status DocumentIsWithdrawn(std::string_view document_id) {
  return WithErrorInfo(absl::FailedPreconditionError(absl::StrCat(
                           "document ", std::string(document_id), " was withdrawn")),
                       {std::string(kReasonDocumentWithdrawn),
                        {{"document_id", std::string(document_id)}}});
}

absl::Status AfterSequenceBeyondEnd(std::string_view id, uint64_t after, uint64_t last) {
  return absl::OutOfRangeError(absl::StrCat("after_sequence ", after,
                                            " is beyond the last sequence ", last,
                                            " of session ", std::string(id)));
}

absl::Status StoreBusy() {
  return absl::ResourceExhaustedError(
      "too many session calls are waiting for the session store; retry later");
}

absl::Status NoSuchDocument(std::string_view id, uint64_t sequence) {
  return absl::NotFoundError(absl::StrCat(
      "session ", std::string(id), " has no document shared at sequence ", sequence));
}

}  // namespace docshare
