#include "service/pipeline/webp_still.h"

#include <webp/encode.h>

#include <memory>
#include <string>

namespace docshare {
namespace {

struct PictureFree {
  void operator()(WebPPicture* picture) const { WebPPictureFree(picture); }
};
struct WriterClear {
  void operator()(WebPMemoryWriter* writer) const { WebPMemoryWriterClear(writer); }
};

// The image as libwebp takes it: 8-bit sRGB, 3 or 4 bands, in memory.
vips::VImage RgbInMemory(vips::VImage image) {
  if (image.interpretation() != VIPS_INTERPRETATION_sRGB || image.bands() < 3) {
    image = image.colourspace(VIPS_INTERPRETATION_sRGB);
  }
  if (image.format() != VIPS_FORMAT_UCHAR) image = image.cast(VIPS_FORMAT_UCHAR);
  if (image.bands() > 4) {
    image = image.extract_band(0, vips::VImage::option()->set("n", 4));
  }
  return image.copy_memory();  // a memory image already is returned as it is
}

}  // namespace

std::string EncodeStillWebp(const vips::VImage& in, int quality, int effort) {
  const vips::VImage image = RgbInMemory(in);
  WebPConfig config;
  if (!WebPConfigInit(&config)) throw vips::VError("libwebp: version mismatch");
  config.quality = static_cast<float>(quality);
  config.method = effort;
  if (!WebPValidateConfig(&config)) throw vips::VError("libwebp: invalid config");

  WebPPicture picture;
  if (!WebPPictureInit(&picture)) throw vips::VError("libwebp: version mismatch");
  std::unique_ptr<WebPPicture, PictureFree> picture_owner(&picture);
  picture.width = image.width();
  picture.height = image.height();
  const auto* pixels = static_cast<const uint8_t*>(image.data());
  const int stride = image.width() * image.bands();
  const int imported = image.bands() == 4
                           ? WebPPictureImportRGBA(&picture, pixels, stride)
                           : WebPPictureImportRGB(&picture, pixels, stride);
  if (!imported) throw vips::VError("libwebp: out of memory importing the picture");

  WebPMemoryWriter writer;
  WebPMemoryWriterInit(&writer);
  std::unique_ptr<WebPMemoryWriter, WriterClear> writer_owner(&writer);
  picture.writer = WebPMemoryWrite;
  picture.custom_ptr = &writer;
  if (!WebPEncode(&config, &picture)) {
    throw vips::VError("libwebp: encode failed, error " +
                       std::to_string(static_cast<int>(picture.error_code)));
  }
  return std::string(reinterpret_cast<const char*>(writer.mem), writer.size);
}

}  // namespace docshare
