#include "service/pipeline/worker_reply.h"

#include <algorithm>
#include <climits>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "service/common/reject.h"

namespace docshare {
namespace {

absl::Status BadReply(std::string_view what) {
  return absl::DataLossError(
      absl::StrCat("bad reply from the render worker: ", std::string(what)));
}

bool Printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7E; });
}

uint32_t Le(std::string_view b, size_t at, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i)
    v |= uint32_t{static_cast<uint8_t>(b[at + i])} << (8 * i);
  return v;
}

std::optional<std::pair<int, int>> WebpSize(std::string_view b) {
  if (b.size() < 30 || b.substr(0, 4) != "RIFF" || b.substr(8, 4) != "WEBP") {
    return std::nullopt;
  }
  const std::string_view chunk = b.substr(12, 4);
  if (chunk == "VP8X") {  // canvas width-1 and height-1, 24 bits each
    return std::pair<int, int>(Le(b, 24, 3) + 1, Le(b, 27, 3) + 1);
  }
  if (chunk == "VP8 " && b.substr(23, 3) == "\x9d\x01\x2a") {  // key frame start code
    return std::pair<int, int>(Le(b, 26, 2) & 0x3fff, Le(b, 28, 2) & 0x3fff);
  }
  if (chunk == "VP8L" && static_cast<uint8_t>(b[20]) == 0x2f) {  // 14 bits each, -1
    const uint32_t bits = Le(b, 21, 4);
    return std::pair<int, int>((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
  }
  return std::nullopt;
}

// The container walkers the guard runs on uploads, without its limits.
std::optional<std::pair<int, int>> GuardedSize(std::string_view b, FileType type) {
  static constexpr Limits kNoLimits{.max_pixels = UINT64_MAX,
                                    .max_frames = INT_MAX,
                                    .max_animation_pixels = UINT64_MAX,
                                    .max_jpeg_scans = INT_MAX};
  absl::StatusOr<ImageHeader> h = Guard(b, type, kNoLimits);
  if (!h.ok()) return std::nullopt;
  return std::pair<int, int>(h->width, h->height);
}

absl::Status CheckPreview(const Preview& p, Rendition slot, int box, int source_edge,
                          const RenderOptions& options) {
  const std::string name = slot == Rendition::kDisplay ? "display" : "thumbnail";
  if (p.rendition != slot) return BadReply(absl::StrCat(name, " in the wrong slot"));
  if (p.mime_type != PreviewMime(options.format)) {
    return BadReply(absl::StrCat(name, " is not of the configured format"));
  }
  if (!p.data || p.data->empty()) return BadReply(absl::StrCat(name, " is empty"));
  const std::optional<std::pair<int, int>> size = EncodedSize(*p.data, options.format);
  if (!size) {
    return BadReply(absl::StrCat(name, "'s bytes are not a ",
                                 std::string(PreviewMime(options.format)), " file"));
  }
  if (size->first != p.width || size->second != p.height) {
    return BadReply(absl::StrCat(name, " is ", size->first, "x", size->second,
                                 " but was announced as ", p.width, "x", p.height));
  }
  if (p.width < 1 || p.height < 1 || std::max(p.width, p.height) > box ||
      std::max(p.width, p.height) > source_edge) {
    return BadReply(absl::StrCat(name, " of ", p.width, "x", p.height,
                                 " does not fit its box or the source"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckWorkerFailure(int code, RejectReason reason, std::string_view mime,
                                std::string_view message, const ImageHeader& header,
                                absl::Status& failure) {
  if (message.empty() || message.size() > kMaxWorkerMessageBytes || !Printable(message)) {
    return BadReply("a failure message that is empty, too long or not printable");
  }
  const std::string_view type_mime = FileTypeMime(header.type);
  if (!mime.empty() && mime != type_mime)
    return BadReply("a failure of another MIME type");
  const auto status_code = static_cast<absl::StatusCode>(code);
  if (status_code == absl::StatusCode::kInvalidArgument &&
      (reason == RejectReason::kCorruptImage ||
       reason == RejectReason::kDimensionsTooLarge ||
       reason == RejectReason::kTooManyFrames)) {
    failure = Reject(reason, type_mime, message);
    return absl::OkStatus();
  }
  if (status_code == absl::StatusCode::kInternal && reason == RejectReason::kNone) {
    failure = absl::InternalError(std::string(message));
    return absl::OkStatus();
  }
  return BadReply(absl::StrCat("a failure outside the table (code ", code, ", reason ",
                               static_cast<int>(reason), ")"));
}

absl::Status CheckWorkerRenditions(const Renditions& r, const ImageHeader& header,
                                   const RenderOptions& options) {
  const bool as_stored = r.width == header.width && r.height == header.height;
  const bool transposed = r.width == header.height && r.height == header.width;
  if (!as_stored && !transposed) {
    return BadReply(absl::StrCat("a source of ", r.width, "x", r.height, " for a ",
                                 header.width, "x", header.height, " header"));
  }
  if (r.frame_count != header.frame_count) {
    return BadReply(
        absl::StrCat(r.frame_count, " frames for a header of ", header.frame_count));
  }
  const int source_edge = std::max(r.width, r.height);
  if (absl::Status s = CheckPreview(r.thumbnail, Rendition::kThumbnail,
                                    options.thumbnail_size, source_edge, options);
      !s.ok()) {
    return s;
  }
  return CheckPreview(r.display, Rendition::kDisplay, options.display_size, source_edge,
                      options);
}

std::optional<std::pair<int, int>> EncodedSize(std::string_view bytes,
                                               PreviewFormat format) {
  switch (format) {
    case PreviewFormat::kWebp:
      return WebpSize(bytes);
    case PreviewFormat::kJpeg:
      if (!bytes.starts_with("\xFF\xD8\xFF")) return std::nullopt;
      return GuardedSize(bytes, FileType::kJpeg);
    case PreviewFormat::kPng:
      if (!bytes.starts_with("\x89PNG\r\n\x1a\n")) return std::nullopt;
      return GuardedSize(bytes, FileType::kPng);
    case PreviewFormat::kGif:
      if (!bytes.starts_with("GIF87a") && !bytes.starts_with("GIF89a"))
        return std::nullopt;
      return GuardedSize(bytes, FileType::kGif);
  }
  return std::nullopt;
}

}  // namespace docshare
