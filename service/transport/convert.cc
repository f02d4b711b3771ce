#include "service/transport/convert.h"

namespace docshare {

void ToProto(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(time);
  out->set_seconds(nanos / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
}

v1::FileType ToProto(FileType type) {
  switch (type) {
    case FileType::kJpeg: return v1::FILE_TYPE_JPEG;
    case FileType::kPng: return v1::FILE_TYPE_PNG;
    case FileType::kGif: return v1::FILE_TYPE_GIF;
    case FileType::kUnknown: break;
  }
  return v1::FILE_TYPE_UNSPECIFIED;
}

v1::RejectReason ToProto(RejectReason reason) {
  switch (reason) {
    case RejectReason::kUnsupportedType: return v1::REJECT_REASON_UNSUPPORTED_TYPE;
    case RejectReason::kEmptyFile: return v1::REJECT_REASON_EMPTY_FILE;
    case RejectReason::kFileTooLarge: return v1::REJECT_REASON_FILE_TOO_LARGE;
    case RejectReason::kDimensionsTooLarge: return v1::REJECT_REASON_DIMENSIONS_TOO_LARGE;
    case RejectReason::kTooManyFrames: return v1::REJECT_REASON_TOO_MANY_FRAMES;
    case RejectReason::kCorruptImage: return v1::REJECT_REASON_CORRUPT_IMAGE;
    case RejectReason::kNone: break;
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
  out->set_shared_by(doc.shared_by == Role::kAgent      ? v1::ROLE_AGENT
                     : doc.shared_by == Role::kConsumer ? v1::ROLE_CONSUMER
                                                        : v1::ROLE_UNSPECIFIED);
  for (const Preview& p : doc.previews) {
    v1::Preview* preview = out->add_previews();
    preview->set_rendition(p.rendition == Rendition::kDisplay ? v1::RENDITION_DISPLAY
                                                              : v1::RENDITION_THUMBNAIL);
    preview->set_mime_type(p.mime_type);
    preview->set_width(p.width);
    preview->set_height(p.height);
    if (with_data == WithData::kYes && p.data) preview->set_data(*p.data);
  }
  out->set_declared_type_mismatch(doc.declared_type_mismatch);
  ToProto(doc.shared_at, out->mutable_shared_at());
}

void ToProto(const SessionEvent& event, v1::SessionEvent* out) {
  out->set_sequence(event.sequence);
  ToProto(event.time, out->mutable_time());
  if (const auto* shared = std::get_if<DocumentShared>(&event.event)) {
    ToProto(*shared->document, WithData::kYes,
            out->mutable_document_shared()->mutable_document());
  } else if (const auto* ended = std::get_if<SessionEnded>(&event.event)) {
    out->mutable_session_ended()->set_reason(ended->reason);
  }
}

}  // namespace docshare
