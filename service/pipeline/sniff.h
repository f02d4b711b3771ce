#ifndef DOCSHARE_PIPELINE_SNIFF_H_
#define DOCSHARE_PIPELINE_SNIFF_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "service/common/types.h"

namespace docshare {

struct SniffResult {
  FileType type = FileType::kUnknown;  // kUnknown when not JPEG, PNG or GIF
  std::string mime;                    // libmagic's verdict, e.g. "application/pdf"
};

// libmagic (one cookie per thread) on at most the first 4096 bytes of `head`.
// Never fails: an empty head is "application/x-empty", kUnknown.
SniffResult Detect(std::string_view head);

// Detect, then the verdict: REJECT_REASON_EMPTY_FILE for no bytes,
// REJECT_REASON_UNSUPPORTED_TYPE for anything but JPEG, PNG, GIF.
absl::StatusOr<SniffResult> Sniff(std::string_view head);

// The type a MIME type or a filename's extension names ("image/jpg",
// "image/pjpeg", "x.JPEG" -> kJpeg); kUnknown when it names none of the three.
FileType TypeFromMime(std::string_view mime);
FileType TypeFromFilename(std::string_view filename);

// True when the declared MIME type or the filename's extension names a
// different type than `actual` (an absent hint never mismatches).
bool DeclaredTypeMismatch(FileType actual, std::string_view declared_mime,
                          std::string_view filename);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_SNIFF_H_
