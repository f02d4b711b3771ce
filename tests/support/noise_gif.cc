#include "tests/support/noise_gif.h"

#include <vips/vips8>

namespace docshare::testing {

std::string NoiseGif(int frames, int edge) {
  using vips::VImage;
  VImage noise =
      VImage::gaussnoise(edge, edge * frames,
                         VImage::option()->set("sigma", 80.0)->set("mean", 128.0))
          .cast(VIPS_FORMAT_UCHAR)
          .copy_memory();
  noise.set("page-height", edge);
  noise.set("delay", std::vector<int>(frames, 100));
  noise.set("loop", 0);
  // One palette for every frame: quantizing is done once.
  VipsBlob* blob = noise.gifsave_buffer(
      VImage::option()->set("effort", 1)->set("reuse", true)->set("dither", 0.0));
  size_t length = 0;
  const void* data = vips_blob_get(blob, &length);
  std::string bytes(static_cast<const char*>(data), length);
  vips_area_unref(VIPS_AREA(blob));
  return bytes;
}

}  // namespace docshare::testing
