#ifndef DOCSHARE_COMMON_TYPES_H_
#define DOCSHARE_COMMON_TYPES_H_

// Domain types shared by every stage. No gRPC or protobuf types here: the
// transport converts these to docshare.v1 messages.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/time/time.h"

namespace docshare {

enum class FileType { kUnknown, kJpeg, kPng, kGif };
// kAdmin is the admin token (the co-browse backend): it never shares, but it
// may withdraw.
enum class Role { kUnknown, kAgent, kConsumer, kAdmin };
enum class Rendition { kThumbnail, kDisplay };
// Mirrors docshare.v1.Acknowledgement.
enum class Acknowledgement { kUnknown, kDisplayed, kClosed };

// Mirrors docshare.v1.RejectReason.
enum class RejectReason {
  kNone,
  kUnsupportedType,
  kEmptyFile,
  kFileTooLarge,
  kDimensionsTooLarge,
  kTooManyFrames,
  kCorruptImage,
};

// "jpeg", "png", "gif" or "other" (metric label values).
std::string_view FileTypeLabel(FileType type);
// "image/jpeg", ... or "" for kUnknown.
std::string_view FileTypeMime(FileType type);
// "REJECT_REASON_UNSUPPORTED_TYPE", ... (the proto enum value name).
std::string_view RejectReasonName(RejectReason reason);
// "unsupported_type", ... (the metric label value).
std::string_view RejectReasonLabel(RejectReason reason);
std::string_view RoleName(Role role);  // "agent" / "consumer" / "admin"
// "displayed" / "closed" (the metric label value).
std::string_view AcknowledgementLabel(Acknowledgement ack);

struct Preview {
  Rendition rendition = Rendition::kThumbnail;
  std::string mime_type;
  int width = 0;
  int height = 0;
  // Shared, never copied: the cache, the session log and every watcher hold
  // the same bytes.
  std::shared_ptr<const std::string> data;
  // Lowercase hex SHA-256 of `data`, computed once where the bytes are
  // encoded (Preview.sha256 and the HTTP ETag).
  std::string sha256;
};

struct Document {
  std::string document_id;
  std::string session_id;
  std::string filename;  // sanitized
  FileType source_type = FileType::kUnknown;
  std::string source_mime_type;
  int source_width = 0;  // as displayed (after EXIF orientation)
  int source_height = 0;
  int frame_count = 1;
  uint64_t source_bytes = 0;
  Role shared_by = Role::kUnknown;
  std::vector<Preview> previews;
  bool declared_type_mismatch = false;
  absl::Time shared_at;

  uint64_t PreviewBytes() const;
};

struct DocumentShared {
  std::shared_ptr<const Document> document;
};
struct SessionEnded {
  std::string reason;  // "ended" or "expired"
};
struct DocumentWithdrawn {
  std::string document_id;
  Role withdrawn_by = Role::kUnknown;
};
struct DocumentAcknowledged {
  std::string document_id;
  Role acknowledged_by = Role::kUnknown;
  Acknowledgement acknowledgement = Acknowledgement::kUnknown;
};

using EventBody =
    std::variant<DocumentShared, SessionEnded, DocumentWithdrawn, DocumentAcknowledged>;

// One entry of a session's log. Immutable once appended; shared by every
// watcher that delivers it.
struct SessionEvent {
  uint64_t sequence = 0;
  absl::Time time;
  EventBody event;
};

using EventPtr = std::shared_ptr<const SessionEvent>;

}  // namespace docshare

#endif  // DOCSHARE_COMMON_TYPES_H_
