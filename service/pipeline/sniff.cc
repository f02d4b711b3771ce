#include "service/pipeline/sniff.h"

#include <magic.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "service/common/log.h"
#include "service/common/reject.h"

namespace docshare {
namespace {

constexpr size_t kSniffBytes = 4096;
constexpr std::string_view kEmptyMime = "application/x-empty";
constexpr std::string_view kUnknownMime = "application/octet-stream";

// A magic_t is not thread-safe: each thread loads its own, once.
class MagicCookie {
 public:
  // Checks that cannot tell JPEG, PNG or GIF apart from anything else are
  // skipped (decompressing, tar, CDF, ELF details, CSV, JSON):
  // the verdict and the MIME types it reports stay those of the magic
  // entries, and CheckFile gets faster.
  static constexpr int kFlags =
      MAGIC_MIME_TYPE | MAGIC_ERROR | MAGIC_NO_CHECK_COMPRESS | MAGIC_NO_CHECK_TAR |
      MAGIC_NO_CHECK_CDF | MAGIC_NO_CHECK_ELF | MAGIC_NO_CHECK_CSV | MAGIC_NO_CHECK_JSON;
  MagicCookie() : cookie_(magic_open(kFlags)) {
    if (cookie_ != nullptr && magic_load(cookie_, nullptr) != 0) {
      ProcessLogger().Log(
          LogLevel::kError, "magic_load_failed",
          {{"message", magic_error(cookie_) != nullptr ? magic_error(cookie_) : "?"}});
      magic_close(cookie_);
      cookie_ = nullptr;
    }
  }
  ~MagicCookie() {
    if (cookie_ != nullptr) magic_close(cookie_);
  }
  MagicCookie(const MagicCookie&) = delete;
  MagicCookie& operator=(const MagicCookie&) = delete;

  std::string MimeOf(std::string_view bytes) {
    if (cookie_ == nullptr) return std::string(kUnknownMime);
    const char* mime = magic_buffer(cookie_, bytes.data(), bytes.size());
    if (mime == nullptr) return std::string(kUnknownMime);
    return mime;
  }

 private:
  magic_t cookie_;
};

// Only the canonical names libmagic prints; aliases are for declared types.
FileType TypeFromDetectedMime(std::string_view mime) {
  if (mime == "image/jpeg") return FileType::kJpeg;
  if (mime == "image/png" || mime == "image/apng") return FileType::kPng;
  if (mime == "image/gif") return FileType::kGif;
  return FileType::kUnknown;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  return out;
}

// "Image/JPEG; charset=x" -> "image/jpeg".
std::string NormalizeMime(std::string_view mime) {
  mime = mime.substr(0, mime.find(';'));
  while (!mime.empty() && absl::ascii_isspace(static_cast<unsigned char>(mime.front()))) {
    mime.remove_prefix(1);
  }
  while (!mime.empty() && absl::ascii_isspace(static_cast<unsigned char>(mime.back()))) {
    mime.remove_suffix(1);
  }
  return Lower(mime);
}

// The extension of the file's base name, lower case; "" when it has none
// (a leading dot, as in ".jpg", names a hidden file, not an extension).
std::string Extension(std::string_view filename) {
  const size_t slash = filename.find_last_of("/\\");
  if (slash != std::string_view::npos) filename.remove_prefix(slash + 1);
  const size_t dot = filename.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return "";
  return Lower(filename.substr(dot + 1));
}

}  // namespace

SniffResult Detect(std::string_view head) {
  if (head.empty()) return {FileType::kUnknown, std::string(kEmptyMime)};
  thread_local MagicCookie cookie;
  SniffResult result;
  result.mime = cookie.MimeOf(head.substr(0, std::min(head.size(), kSniffBytes)));
  result.type = TypeFromDetectedMime(result.mime);
  return result;
}

absl::StatusOr<SniffResult> Sniff(std::string_view head) {
  SniffResult result = Detect(head);
  if (head.empty()) {
    return Reject(RejectReason::kEmptyFile, result.mime,
                  "the file is empty: share a JPEG, PNG or GIF");
  }
  // A PNG whose signature was damaged (PngSuite's xs*, xcrn, xlfn: a bit
  // flipped, line endings converted in transfer) is not "another type" to
  // libmagic's eyes but a broken PNG: IHDR still sits right after it.
  if (result.type == FileType::kUnknown && head.size() >= 16 &&
      head.substr(12, 4) == "IHDR") {
    return Reject(RejectReason::kCorruptImage, result.mime,
                  "the file looks like a PNG but its signature is damaged");
  }
  if (result.type == FileType::kUnknown) {
    return Reject(
        RejectReason::kUnsupportedType, result.mime,
        absl::StrCat(result.mime, " is not a supported type: share a JPEG, PNG or GIF"));
  }
  return result;
}

FileType TypeFromMime(std::string_view mime) {
  const std::string m = NormalizeMime(mime);
  if (m == "image/jpeg" || m == "image/jpg" || m == "image/pjpeg") {
    return FileType::kJpeg;
  }
  if (m == "image/png" || m == "image/x-png" || m == "image/apng") {
    return FileType::kPng;
  }
  if (m == "image/gif") return FileType::kGif;
  return FileType::kUnknown;
}

FileType TypeFromFilename(std::string_view filename) {
  const std::string ext = Extension(filename);
  if (ext == "jpg" || ext == "jpeg" || ext == "jpe" || ext == "jfif") {
    return FileType::kJpeg;
  }
  if (ext == "png") return FileType::kPng;
  if (ext == "gif") return FileType::kGif;
  return FileType::kUnknown;
}

// What counts as naming "another type":
// - declared MIME: empty, or a generic "I don't know" type
//   (application/octet-stream, binary/octet-stream), names nothing. Any other
//   value that is not the actual type's (an alias included) is a mismatch,
//   also a non-image type such as application/pdf: the client said the file
//   was something it is not.
// - filename: no extension (or a trailing dot) names nothing. Any other
//   extension that is not one of the actual type's is a mismatch, also
//   ".pdf" or ".webp": the name tells the user to expect another kind of file.
bool DeclaredTypeMismatch(FileType actual, std::string_view declared_mime,
                          std::string_view filename) {
  const std::string mime = NormalizeMime(declared_mime);
  if (!mime.empty() && mime != "application/octet-stream" &&
      mime != "binary/octet-stream" && TypeFromMime(mime) != actual) {
    return true;
  }
  const std::string ext = Extension(filename);
  if (!ext.empty() && TypeFromFilename(filename) != actual) return true;
  return false;
}

}  // namespace docshare
