#include "service/transport/convert.h"

namespace docshare {

void ToProto(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(time);
  out->set_seconds(nanos / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
}

v1::FileType ToProto(FileType type) {
  switch (type) {
    case FileType::kJpeg:
      return v1::FILE_TYPE_JPEG;
    case FileType::kPng:
      return v1::FILE_TYPE_PNG;
    case FileType::kGif:
      return v1::FILE_TYPE_GIF;
    case FileType::kUnknown:
      break;
  }
  return v1::FILE_TYPE_UNSPECIFIED;
}

v1::RejectReason ToProto(RejectReason reason) {
  switch (reason) {
    case RejectReason::kUnsupportedType:
      return v1::REJECT_REASON_UNSUPPORTED_TYPE;
    case RejectReason::kEmptyFile:
      return v1::REJECT_REASON_EMPTY_FILE;
    case RejectReason::kFileTooLarge:
      return v1::REJECT_REASON_FILE_TOO_LARGE;
    case RejectReason::kDimensionsTooLarge:
      return v1::REJECT_REASON_DIMENSIONS_TOO_LARGE;
    case RejectReason::kTooManyFrames:
      return v1::REJECT_REASON_TOO_MANY_FRAMES;
    case RejectReason::kCorruptImage:
      return v1::REJECT_REASON_CORRUPT_IMAGE;
    case RejectReason::kNone:
      break;
  }
  return v1::REJECT_REASON_UNSPECIFIED;
}

void ToProto(const Document& doc, WithData with_data, v1::Document* out) {
  out->set_document_id(doc.document_id);
  out->set_session_id(doc.session_id);
  out->set_filename(doc.filename);
  out->set_source_type(ToProto(doc.source_type));
  out->set_source_mime_type(doc.source_mime_type);
  out->set_source_width(doc.source_width);
  out->set_source_height(doc.source_height);
  out->set_frame_count(doc.frame_count);
  out->set_source_bytes(doc.source_bytes);
  out->set_shared_by(ToProto(doc.shared_by));
  for (const Preview& p : doc.previews) {
    v1::Preview* preview = out->add_previews();
    preview->set_rendition(p.rendition == Rendition::kDisplay ? v1::RENDITION_DISPLAY
                                                              : v1::RENDITION_THUMBNAIL);
    preview->set_mime_type(p.mime_type);
    preview->set_width(p.width);
    preview->set_height(p.height);
    if (p.data) preview->set_size_bytes(p.data->size());
    preview->set_sha256(p.sha256);
    if (with_data == WithData::kYes && p.data) preview->set_data(*p.data);
  }
  out->set_declared_type_mismatch(doc.declared_type_mismatch);
  ToProto(doc.shared_at, out->mutable_shared_at());
}

void ToProto(const Document& doc, uint64_t sequence, const PreviewLinks* links,
             v1::Document* out) {
  ToProto(doc, links == nullptr ? WithData::kYes : WithData::kNo, out);
  if (links == nullptr || links->signer == nullptr) return;
  for (v1::Preview& p : *out->mutable_previews()) {
    p.set_url(links->signer->Sign(
        doc.session_id, links->nonce, static_cast<int64_t>(sequence),
        p.rendition() == v1::RENDITION_DISPLAY ? Rendition::kDisplay
                                               : Rendition::kThumbnail,
        links->session_expires_at));
  }
}

void ToProto(const SessionEvent& event, const PreviewLinks* links,
             v1::SessionEvent* out) {
  out->set_sequence(event.sequence);
  ToProto(event.time, out->mutable_time());
  if (const auto* shared = std::get_if<DocumentShared>(&event.event)) {
    ToProto(*shared->document, event.sequence, links,
            out->mutable_document_shared()->mutable_document());
  } else if (const auto* ended = std::get_if<SessionEnded>(&event.event)) {
    out->mutable_session_ended()->set_reason(ended->reason);
  } else if (const auto* w = std::get_if<DocumentWithdrawn>(&event.event)) {
    v1::DocumentWithdrawn* o = out->mutable_document_withdrawn();
    o->set_document_id(w->document_id);
    o->set_withdrawn_by(ToProto(w->withdrawn_by));
  } else {
    const auto& a = std::get<DocumentAcknowledged>(event.event);
    v1::DocumentAcknowledged* o = out->mutable_document_acknowledged();
    o->set_document_id(a.document_id);
    o->set_acknowledged_by(ToProto(a.acknowledged_by));
    o->set_acknowledgement(ToProto(a.acknowledgement));
  }
}

void ToProto(const SessionEvent& event, v1::SessionEvent* out) {
  ToProto(event, nullptr, out);
}

v1::Role ToProto(Role role) {
  switch (role) {
    case Role::kAgent:
      return v1::ROLE_AGENT;
    case Role::kConsumer:
      return v1::ROLE_CONSUMER;
    case Role::kAdmin:
      return v1::ROLE_ADMIN;
    case Role::kUnknown:
      break;
  }
  return v1::ROLE_UNSPECIFIED;
}

v1::Acknowledgement ToProto(Acknowledgement ack) {
  switch (ack) {
    case Acknowledgement::kDisplayed:
      return v1::ACKNOWLEDGEMENT_DISPLAYED;
    case Acknowledgement::kClosed:
      return v1::ACKNOWLEDGEMENT_CLOSED;
    case Acknowledgement::kUnknown:
      break;
  }
  return v1::ACKNOWLEDGEMENT_UNSPECIFIED;
}

Acknowledgement FromProto(v1::Acknowledgement ack) {
  switch (ack) {
    case v1::ACKNOWLEDGEMENT_DISPLAYED:
      return Acknowledgement::kDisplayed;
    case v1::ACKNOWLEDGEMENT_CLOSED:
      return Acknowledgement::kClosed;
    default:
      return Acknowledgement::kUnknown;
  }
}

v1::SessionState ToProto(SessionState state) {
  switch (state) {
    case SessionState::kActive:
      return v1::SESSION_STATE_ACTIVE;
    case SessionState::kEnded:
      return v1::SESSION_STATE_ENDED;
    case SessionState::kExpired:
      return v1::SESSION_STATE_EXPIRED;
  }
  return v1::SESSION_STATE_UNSPECIFIED;
}

}  // namespace docshare
