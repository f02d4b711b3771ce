#ifndef DOCSHARE_PIPELINE_GUARD_H_
#define DOCSHARE_PIPELINE_GUARD_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "service/common/types.h"

namespace docshare {

struct Limits {
  uint64_t max_pixels = 50'000'000;  // per frame
  int max_frames = 300;
  uint64_t max_animation_pixels = 200'000'000;  // over all frames
  int max_jpeg_scans = 100;
};

// What the header says, read without decoding a pixel.
struct ImageHeader {
  FileType type = FileType::kUnknown;
  int width = 0;  // as stored (before EXIF orientation); a GIF's logical screen
  int height = 0;
  int frame_count = 1;
  uint64_t bytes = 0;
};

// Parses the container (JPEG markers, PNG IHDR, GIF blocks) of `bytes`,
// whose type `type` was sniffed, and applies `limits`:
// DIMENSIONS_TOO_LARGE, TOO_MANY_FRAMES, or CORRUPT_IMAGE (no readable
// header; a JPEG with more than max_jpeg_scans scans). Allocates no pixels.
absl::StatusOr<ImageHeader> Guard(std::string_view bytes, FileType type,
                                  const Limits& limits);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_GUARD_H_
