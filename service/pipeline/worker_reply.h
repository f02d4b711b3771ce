#ifndef DOCSHARE_PIPELINE_WORKER_REPLY_H_
#define DOCSHARE_PIPELINE_WORKER_REPLY_H_

// What the server accepts from a render worker. A worker decodes hostile
// bytes, so it may be running an attacker's code: its answer is checked like
// any untrusted input before a byte of it reaches a status, a trailer or a
// watcher. Anything outside these rules is a bad reply (DATA_LOSS), and the
// worker is replaced (IsolatedRenderer, reason "bad_reply").

#include <optional>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "service/pipeline/guard.h"
#include "service/pipeline/render.h"

namespace docshare {

// A failure message longer than this, or with a byte outside printable
// ASCII, is a bad reply (it ends up in a gRPC status and the log).
inline constexpr size_t kMaxWorkerMessageBytes = 200;

// The failure table: the only failures a worker may report for a render of
// `header`. OK sets `failure` to the status the caller sees:
//   INVALID_ARGUMENT + CORRUPT_IMAGE, DIMENSIONS_TOO_LARGE or TOO_MANY_FRAMES:
//       that rejection, with the header's MIME type (the worker's `mime` must
//       be empty or that same type)
//   INTERNAL without a reason: INTERNAL
// and `message` must be 1..kMaxWorkerMessageBytes printable ASCII bytes.
absl::Status CheckWorkerFailure(int code, RejectReason reason, std::string_view mime,
                                std::string_view message, const ImageHeader& header,
                                absl::Status& failure);

// Renditions of `header` rendered with `options`: the source size is the
// header's (or its transpose, after EXIF orientation) and its frame count;
// each preview is in its slot, of the configured format's MIME type, its
// bytes start with that format's magic and declare the preview's width and
// height, which fit the rendition's box and are never larger than the source.
absl::Status CheckWorkerRenditions(const Renditions& renditions,
                                   const ImageHeader& header,
                                   const RenderOptions& options);

// The width and height an encoded image's own header declares (WebP's VP8X,
// VP8 or VP8L, PNG's IHDR, GIF's logical screen, JPEG's SOF), or nullopt
// when `bytes` is not a `format` file.
std::optional<std::pair<int, int>> EncodedSize(std::string_view bytes,
                                               PreviewFormat format);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_WORKER_REPLY_H_
