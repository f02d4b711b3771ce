#include "service/transport/lifecycle.h"

#include "service/common/status_macros.h"
#include "service/pipeline/authorize.h"
#include "service/transport/convert.h"

namespace docshare {

absl::Status WithdrawDocument(const LifecycleDeps& deps, const Caller& caller,
                              const v1::WithdrawDocumentRequest& request) {
  ASSIGN_OR_RETURN(Role by,
                   AuthorizeWithdraw(caller, request.session_id(), deps.backplane));
  ASSIGN_OR_RETURN(EventPtr event, deps.backplane.Withdraw(request.session_id(),
                                                           request.document_id(), by));
  if (event == nullptr) return absl::OkStatus();  // withdrawn before: no event
  deps.observer.DocumentWithdrawn();
  // Never the filename: a withdrawn document's name is not logged again.
  deps.log.Info("document_withdrawn", {{"session", request.session_id()},
                                       {"document", request.document_id()},
                                       {"by", std::string(RoleName(by))},
                                       {"sequence", event->sequence}});
  return absl::OkStatus();
}

absl::Status AcknowledgeDocument(const LifecycleDeps& deps, const Caller& caller,
                                 const v1::AcknowledgeDocumentRequest& request) {
  const Acknowledgement ack = FromProto(request.acknowledgement());
  if (ack == Acknowledgement::kUnknown) {
    return absl::InvalidArgumentError(
        "acknowledgement must be ACKNOWLEDGEMENT_DISPLAYED or ACKNOWLEDGEMENT_CLOSED");
  }
  ASSIGN_OR_RETURN(Role by,
                   AuthorizeAcknowledge(caller, request.session_id(), deps.backplane));
  ASSIGN_OR_RETURN(
      EventPtr event,
      deps.backplane.Acknowledge(request.session_id(), request.document_id(), by, ack));
  if (event == nullptr) return absl::OkStatus();  // a repeat: no event
  deps.observer.DocumentAcknowledged(ack);
  deps.log.Info("document_acknowledged",
                {{"session", request.session_id()},
                 {"document", request.document_id()},
                 {"by", std::string(RoleName(by))},
                 {"acknowledgement", std::string(AcknowledgementLabel(ack))},
                 {"sequence", event->sequence}});
  return absl::OkStatus();
}

absl::Status DescribeSession(const LifecycleDeps& deps, const Caller& caller,
                             const v1::GetSessionRequest& request,
                             v1::Session& response) {
  RETURN_IF_ERROR(CheckSessionOfToken(caller, request.session_id()));
  ASSIGN_OR_RETURN(SessionSnapshot snapshot,
                   deps.backplane.Snapshot(request.session_id()));
  RETURN_IF_ERROR(CheckParticipant(caller, request.session_id(), snapshot.info));
  response.set_session_id(snapshot.info.id);
  response.set_state(ToProto(snapshot.info.state));
  ToProto(snapshot.info.expires_at, response.mutable_expires_at());
  response.set_consumer_may_share(snapshot.info.consumer_may_share);
  response.set_last_sequence(snapshot.last_sequence);
  response.set_watchers(snapshot.watchers);
  // URLs unless inline is asked for (DESIGN: URL by default).
  const PreviewLinks links{deps.preview_urls, snapshot.info.nonce,
                           snapshot.info.expires_at};
  const bool inline_data = request.preview_delivery() == v1::PREVIEW_DELIVERY_INLINE;
  for (const SessionSnapshot::Shared& shared : snapshot.documents) {
    ToProto(*shared.document, shared.sequence, inline_data ? nullptr : &links,
            response.add_documents());
  }
  return absl::OkStatus();
}

}  // namespace docshare
