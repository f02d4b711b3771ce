#include "service/http/event_json.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "service/transport/convert.h"

namespace docshare {

void ToUrlProto(const SessionEvent& event, const SessionInfo& session,
                const PreviewUrlSigner& signer, v1::SessionEvent* out) {
  const auto* shared = std::get_if<DocumentShared>(&event.event);
  if (shared == nullptr) {  // no previews in the other events
    ToProto(event, out);
    return;
  }
  out->set_sequence(event.sequence);
  ToProto(event.time, out->mutable_time());
  v1::Document* document = out->mutable_document_shared()->mutable_document();
  ToProto(*shared->document, WithData::kNo, document);
  for (size_t i = 0; i < shared->document->previews.size(); ++i) {
    const Preview& preview = shared->document->previews[i];
    if (!preview.data) continue;  // withdrawn: no bytes, so no URL either
    document->mutable_previews(static_cast<int>(i))
        ->set_url(signer.Sign(session.id, session.nonce,
                              static_cast<int64_t>(event.sequence), preview.rendition,
                              session.expires_at));
  }
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   JsonDefaults defaults) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = defaults == JsonDefaults::kPrint;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) {
    return absl::InternalError(
        absl::StrCat("could not encode ", message.GetDescriptor()->name(), " as JSON"));
  }
  return json;
}

absl::StatusOr<std::string> ToSse(const v1::SessionEvent& event) {
  const google::protobuf::FieldDescriptor* kind =
      event.GetDescriptor()->FindFieldByNumber(event.event_case());
  if (kind == nullptr) return absl::InternalError("an event of no kind");
  absl::StatusOr<std::string> json = ToJson(event);
  if (!json.ok()) return json.status();
  // The JSON printer escapes control characters, so the data is one line.
  return absl::StrCat("id: ", event.sequence(), "\nevent: ", kind->name(),
                      "\ndata: ", *json, "\n\n");
}

}  // namespace docshare
