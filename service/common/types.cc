#include "service/common/types.h"

namespace docshare {

std::string_view FileTypeLabel(FileType type) {
  switch (type) {
    case FileType::kJpeg:
      return "jpeg";
    case FileType::kPng:
      return "png";
    case FileType::kGif:
      return "gif";
    case FileType::kUnknown:
      break;
  }
  return "other";
}

std::string_view FileTypeMime(FileType type) {
  switch (type) {
    case FileType::kJpeg:
      return "image/jpeg";
    case FileType::kPng:
      return "image/png";
    case FileType::kGif:
      return "image/gif";
    case FileType::kUnknown:
      break;
  }
  return "";
}

std::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kUnsupportedType:
      return "REJECT_REASON_UNSUPPORTED_TYPE";
    case RejectReason::kEmptyFile:
      return "REJECT_REASON_EMPTY_FILE";
    case RejectReason::kFileTooLarge:
      return "REJECT_REASON_FILE_TOO_LARGE";
    case RejectReason::kDimensionsTooLarge:
      return "REJECT_REASON_DIMENSIONS_TOO_LARGE";
    case RejectReason::kTooManyFrames:
      return "REJECT_REASON_TOO_MANY_FRAMES";
    case RejectReason::kCorruptImage:
      return "REJECT_REASON_CORRUPT_IMAGE";
    case RejectReason::kNone:
      break;
  }
  return "REJECT_REASON_UNSPECIFIED";
}

std::string_view RejectReasonLabel(RejectReason reason) {
  switch (reason) {
    case RejectReason::kUnsupportedType:
      return "unsupported_type";
    case RejectReason::kEmptyFile:
      return "empty_file";
    case RejectReason::kFileTooLarge:
      return "file_too_large";
    case RejectReason::kDimensionsTooLarge:
      return "dimensions_too_large";
    case RejectReason::kTooManyFrames:
      return "too_many_frames";
    case RejectReason::kCorruptImage:
      return "corrupt_image";
    case RejectReason::kNone:
      break;
  }
  return "unspecified";
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAgent:
      return "agent";
    case Role::kConsumer:
      return "consumer";
    case Role::kAdmin:
      return "admin";
    case Role::kUnknown:
      break;
  }
  return "unknown";
}

std::string_view AcknowledgementLabel(Acknowledgement ack) {
  switch (ack) {
    case Acknowledgement::kDisplayed:
      return "displayed";
    case Acknowledgement::kClosed:
      return "closed";
    case Acknowledgement::kUnknown:
      break;
  }
  return "unspecified";
}

uint64_t Document::PreviewBytes() const {
  uint64_t total = 0;
  for (const Preview& p : previews) total += p.data ? p.data->size() : 0;
  return total;
}

}  // namespace docshare
