// The whole path of an upload's bytes: Sniff -> Guard -> VipsRenderer::Render,
// with small limits so one run stays fast. Only our code is instrumented:
// inside libjpeg, libpng and libnsgif this finds crashes, aborts, hangs,
// leaks and huge allocations, not silent out-of-bounds reads.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "service/pipeline/guard.h"
#include "service/pipeline/render.h"
#include "service/pipeline/sniff.h"
#include "service/pipeline/upload_buffer.h"
#include "service/pipeline/vips_boundary.h"

namespace {

constexpr docshare::Limits kLimits{.max_pixels = 4'000'000,
                                   .max_frames = 50,
                                   .max_animation_pixels = 16'000'000,
                                   .max_jpeg_scans = 100};

const docshare::RenderOptions kOptions{.display_size = 256, .thumbnail_size = 64};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  if (absl::Status s = docshare::InitVips((*argv)[0]); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<docshare::SniffResult> sniffed =
      docshare::Sniff(bytes.substr(0, docshare::UploadBuffer::kHeadBytes));
  if (!sniffed.ok()) return 0;
  const absl::StatusOr<docshare::ImageHeader> header =
      docshare::Guard(bytes, sniffed->type, kLimits);
  if (!header.ok()) return 0;
  const absl::StatusOr<docshare::Renditions> out =
      docshare::VipsRenderer(kOptions).Render(bytes, *header);
  // Anything but a rendition or a rejection (INTERNAL: an exception other
  // than VError escaped libvips) is a bug.
  if (!out.ok() && out.status().code() != absl::StatusCode::kInvalidArgument) {
    std::fprintf(stderr, "render: %s\n", out.status().ToString().c_str());
    std::abort();
  }
  return 0;
}
