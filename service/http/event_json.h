#ifndef DOCSHARE_HTTP_EVENT_JSON_H_
#define DOCSHARE_HTTP_EVENT_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "docshare/v1/docshare.pb.h"
#include "service/auth/preview_url.h"
#include "service/common/types.h"
#include "service/sessions/session_store.h"

namespace docshare {

// `event` with URL delivery (DESIGN "PREVIEW_DELIVERY_URL"): previews carry a
// freshly signed `url` and no `data`, so no preview byte is copied.
void ToUrlProto(const SessionEvent& event, const SessionInfo& session,
                const PreviewUrlSigner& signer, v1::SessionEvent* out);

// One Server-Sent Event: "id: <sequence>\nevent: <document_shared|...>\n
// data: <SessionEvent JSON>\n\n" (protobuf's canonical JSON, one line).
absl::StatusOr<std::string> ToSse(const v1::SessionEvent& event);

// Whether fields at their default (0, false, empty) are printed.
enum class JsonDefaults { kOmit, kPrint };

// protobuf's canonical JSON of `message` (lowerCamelCase names).
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   JsonDefaults defaults = JsonDefaults::kOmit);

}  // namespace docshare

#endif  // DOCSHARE_HTTP_EVENT_JSON_H_
