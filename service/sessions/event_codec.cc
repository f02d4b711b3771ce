#include "service/sessions/event_codec.h"

#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "docshare/internal/session_event.pb.h"
#include "service/common/status_macros.h"

namespace docshare {
namespace {

namespace pb = ::docshare::internal;

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed event encoding: ", std::string(what)));
}

// A domain enum from its number: 0..max, anything else is malformed.
template <typename E>
absl::StatusOr<E> EnumOf(int32_t value, E max, std::string_view what) {
  if (value < 0 || value > static_cast<int32_t>(max)) {
    return Malformed(absl::StrCat(std::string(what), " ", value, " out of range"));
  }
  return static_cast<E>(value);
}

absl::StatusOr<int> NonNegative(int32_t value, std::string_view what) {
  if (value < 0) return Malformed(absl::StrCat("negative ", std::string(what)));
  return value;
}

void ToStored(const Document& doc, pb::StoredDocument* out) {
  out->set_document_id(doc.document_id);
  out->set_session_id(doc.session_id);
  out->set_filename(doc.filename);
  out->set_source_type(static_cast<int32_t>(doc.source_type));
  out->set_source_mime_type(doc.source_mime_type);
  out->set_source_width(doc.source_width);
  out->set_source_height(doc.source_height);
  out->set_frame_count(doc.frame_count);
  out->set_source_bytes(doc.source_bytes);
  out->set_shared_by(static_cast<int32_t>(doc.shared_by));
  out->set_declared_type_mismatch(doc.declared_type_mismatch);
  out->set_shared_at_unix_micros(absl::ToUnixMicros(doc.shared_at));
  for (const Preview& p : doc.previews) {
    pb::StoredPreview* stored = out->add_previews();
    stored->set_rendition(static_cast<int32_t>(p.rendition));
    stored->set_mime_type(p.mime_type);
    stored->set_width(p.width);
    stored->set_height(p.height);
    if (p.data) stored->set_data(*p.data);
    stored->set_sha256(p.sha256);
  }
}

absl::StatusOr<std::shared_ptr<const Document>> FromStored(pb::StoredDocument& in) {
  auto doc = std::make_shared<Document>();
  doc->document_id = std::move(*in.mutable_document_id());
  doc->session_id = std::move(*in.mutable_session_id());
  doc->filename = std::move(*in.mutable_filename());
  ASSIGN_OR_RETURN(doc->source_type,
                   EnumOf(in.source_type(), FileType::kGif, "source_type"));
  doc->source_mime_type = std::move(*in.mutable_source_mime_type());
  ASSIGN_OR_RETURN(doc->source_width, NonNegative(in.source_width(), "source_width"));
  ASSIGN_OR_RETURN(doc->source_height, NonNegative(in.source_height(), "source_height"));
  ASSIGN_OR_RETURN(doc->frame_count, NonNegative(in.frame_count(), "frame_count"));
  doc->source_bytes = in.source_bytes();
  ASSIGN_OR_RETURN(doc->shared_by, EnumOf(in.shared_by(), Role::kConsumer, "shared_by"));
  doc->declared_type_mismatch = in.declared_type_mismatch();
  doc->shared_at = absl::FromUnixMicros(in.shared_at_unix_micros());
  for (pb::StoredPreview& stored : *in.mutable_previews()) {
    Preview p;
    ASSIGN_OR_RETURN(p.rendition,
                     EnumOf(stored.rendition(), Rendition::kDisplay, "rendition"));
    p.mime_type = std::move(*stored.mutable_mime_type());
    ASSIGN_OR_RETURN(p.width, NonNegative(stored.width(), "preview width"));
    ASSIGN_OR_RETURN(p.height, NonNegative(stored.height(), "preview height"));
    // Moved, not copied: the log, the hub and every watcher share it.
    p.data = std::make_shared<const std::string>(std::move(*stored.mutable_data()));
    p.sha256 = std::move(*stored.mutable_sha256());
    doc->previews.push_back(std::move(p));
  }
  return std::shared_ptr<const Document>(std::move(doc));
}

}  // namespace

std::string EncodeEvent(const SessionEvent& event) {
  pb::StoredEvent stored;
  stored.set_sequence(event.sequence);
  stored.set_time_unix_micros(absl::ToUnixMicros(event.time));
  if (const auto* shared = std::get_if<DocumentShared>(&event.event)) {
    // An event without its document cannot be appended (NoDocumentToAppend).
    if (shared->document) ToStored(*shared->document, stored.mutable_document_shared());
  } else if (const auto* ended = std::get_if<SessionEnded>(&event.event)) {
    stored.mutable_session_ended()->set_reason(ended->reason);
  } else if (const auto* w = std::get_if<DocumentWithdrawn>(&event.event)) {
    pb::StoredDocumentWithdrawn* out = stored.mutable_document_withdrawn();
    out->set_document_id(w->document_id);
    out->set_withdrawn_by(static_cast<int32_t>(w->withdrawn_by));
  } else {
    const auto& a = std::get<DocumentAcknowledged>(event.event);
    pb::StoredDocumentAcknowledged* out = stored.mutable_document_acknowledged();
    out->set_document_id(a.document_id);
    out->set_acknowledged_by(static_cast<int32_t>(a.acknowledged_by));
    out->set_acknowledgement(static_cast<int32_t>(a.acknowledgement));
  }
  return stored.SerializeAsString();
}

absl::StatusOr<SessionEvent> DecodeEvent(std::string_view bytes) {
  pb::StoredEvent stored;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !stored.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Malformed("not a StoredEvent");
  }
  SessionEvent event;
  event.sequence = stored.sequence();
  event.time = absl::FromUnixMicros(stored.time_unix_micros());
  switch (stored.event_case()) {
    case pb::StoredEvent::kDocumentShared: {
      ASSIGN_OR_RETURN(std::shared_ptr<const Document> doc,
                       FromStored(*stored.mutable_document_shared()));
      event.event = DocumentShared{std::move(doc)};
      return event;
    }
    case pb::StoredEvent::kSessionEnded:
      event.event =
          SessionEnded{std::move(*stored.mutable_session_ended()->mutable_reason())};
      return event;
    case pb::StoredEvent::kDocumentWithdrawn: {
      pb::StoredDocumentWithdrawn& in = *stored.mutable_document_withdrawn();
      DocumentWithdrawn w;
      w.document_id = std::move(*in.mutable_document_id());
      ASSIGN_OR_RETURN(w.withdrawn_by,
                       EnumOf(in.withdrawn_by(), Role::kAdmin, "withdrawn_by"));
      event.event = std::move(w);
      return event;
    }
    case pb::StoredEvent::kDocumentAcknowledged: {
      pb::StoredDocumentAcknowledged& in = *stored.mutable_document_acknowledged();
      DocumentAcknowledged a;
      a.document_id = std::move(*in.mutable_document_id());
      ASSIGN_OR_RETURN(a.acknowledged_by,
                       EnumOf(in.acknowledged_by(), Role::kAdmin, "acknowledged_by"));
      ASSIGN_OR_RETURN(
          a.acknowledgement,
          EnumOf(in.acknowledgement(), Acknowledgement::kClosed, "acknowledgement"));
      event.event = std::move(a);
      return event;
    }
    case pb::StoredEvent::EVENT_NOT_SET:
      break;
  }
  return Malformed("an event of no kind");
}

}  // namespace docshare
