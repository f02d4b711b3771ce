#ifndef DOCSHARE_TRANSPORT_CONVERT_H_
#define DOCSHARE_TRANSPORT_CONVERT_H_

#include <string>

#include "docshare/v1/docshare.pb.h"
#include "service/auth/preview_url.h"
#include "service/common/types.h"
#include "service/sessions/session_store.h"

namespace docshare {

enum class WithData { kNo, kYes };

// URL delivery (PREVIEW_DELIVERY_URL): previews carry a signed `url` and no
// `data`. Signed afresh at each delivery. A null signer (the HTTP listener
// is off) leaves `url` empty.
struct PreviewLinks {
  const PreviewUrlSigner* signer = nullptr;
  std::string nonce;  // of this start of the session
  absl::Time session_expires_at;
};

void ToProto(const Document& doc, WithData with_data, v1::Document* out);
void ToProto(const SessionEvent& event, v1::SessionEvent* out);
// `sequence` is the document's DocumentShared's; `links` null: inline.
void ToProto(const Document& doc, uint64_t sequence, const PreviewLinks* links,
             v1::Document* out);
void ToProto(const SessionEvent& event, const PreviewLinks* links, v1::SessionEvent* out);
v1::Role ToProto(Role role);
v1::Acknowledgement ToProto(Acknowledgement ack);
Acknowledgement FromProto(v1::Acknowledgement ack);
v1::SessionState ToProto(SessionState state);
void ToProto(absl::Time time, google::protobuf::Timestamp* out);
v1::FileType ToProto(FileType type);
v1::RejectReason ToProto(RejectReason reason);

}  // namespace docshare

#endif  // DOCSHARE_TRANSPORT_CONVERT_H_
