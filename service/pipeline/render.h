#ifndef DOCSHARE_PIPELINE_RENDER_H_
#define DOCSHARE_PIPELINE_RENDER_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "service/common/types.h"
#include "service/pipeline/guard.h"

namespace docshare {

enum class PreviewFormat { kWebp, kJpeg, kPng, kGif };

// Every gRPC client's default receive limit is 4 MiB, and one event carries
// both previews: together they stay under it, less room for the document's
// other fields (a few hundred bytes; a filename is at most 255).
inline constexpr uint64_t kEventPreviewBudget = (4u << 20) - (64u << 10);

struct RenderOptions {
  int display_size = 1600;   // longest edge, never upscaled
  int thumbnail_size = 256;  // longest edge, never upscaled
  PreviewFormat format = PreviewFormat::kWebp;
  int quality = 80;
  int webp_effort = 2;
  // Largest encoded display preview (--max-preview-bytes). The thumbnail
  // gets the same, or what kEventPreviewBudget leaves if that is less.
  uint64_t max_preview_bytes = 2u << 20;
};

struct Renditions {
  int width = 0;  // source as displayed (after EXIF orientation)
  int height = 0;
  int frame_count = 1;
  Preview thumbnail;
  Preview display;
};

// The render stage: a pure function of bytes, header and options, behind an
// interface so it can run in-process or in isolated worker processes.
class Renderer {
 public:
  virtual ~Renderer() = default;
  // Decodes fully (a truncated or broken file is CORRUPT_IMAGE), applies EXIF
  // orientation, converts to sRGB, strips metadata, keeps alpha, never
  // upscales, encodes both renditions. An animated GIF keeps its frames,
  // delays and loop in the display rendition (webp or gif output); the
  // thumbnail is the first frame. A preview over its byte bound is encoded
  // again, smaller: an animation with fewer frames (their delays merged, so
  // it plays as long), a still image at a lower quality; then both at a
  // smaller size, until it fits.
  virtual absl::StatusOr<Renditions> Render(std::string_view bytes,
                                            const ImageHeader& header) = 0;
};

// libvips, in this process. InitVips must have run.
class VipsRenderer final : public Renderer {
 public:
  explicit VipsRenderer(RenderOptions options) : options_(options) {}
  absl::StatusOr<Renditions> Render(std::string_view bytes,
                                    const ImageHeader& header) override;

 private:
  RenderOptions options_;
};

std::string_view PreviewMime(PreviewFormat format);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_RENDER_H_
