#include "service/pipeline/render.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vips/vips8>

#include "service/common/types.h"
#include "service/pipeline/sha256.h"
#include "service/pipeline/vips_boundary.h"
#include "service/pipeline/webp_still.h"

// The render stage, in the order it runs:
//   load (the sniffed type's own loader, fail_on=error, JPEG shrink-on-load)
//   | thumbnail to the display box (sRGB, 8-bit, alpha kept, never upscaled)
//   | decode fully into memory (a broken file fails here, not half-rendered)
//   | orient | first frame | thumbnail box
//   | strip and encode each (display, thumbnail), within its byte bound
// Everything in here may throw vips::VError; CallVips turns it into a status.

namespace docshare {
namespace {

using vips::VImage;
using vips::VOption;

// Metadata a preview keeps: what an animation needs to play. Everything else
// (EXIF, GPS, XMP, ICC, IPTC, comments, ...) is removed before the save, on
// top of the saver's own `strip`.
const std::set<std::string>& KeptFields() {
  static const auto* kept = new std::set<std::string>{"page-height", "delay", "loop"};
  return *kept;
}

bool IsAnimated(const VImage& image) {
  return vips_image_get_page_height(image.get_image()) < image.height();
}

int Orientation(const VImage& image) {
  return image.get_typeof(VIPS_META_ORIENTATION) != 0
             ? image.get_int(VIPS_META_ORIENTATION)
             : 1;
}

// libjpeg can decode at 1/2, 1/4 or 1/8 scale: the largest factor that still
// leaves the longest edge at least `box` pixels.
int JpegShrink(const ImageHeader& header, int box) {
  const int longest = std::max(header.width, header.height);
  for (int shrink : {8, 4, 2}) {
    if (longest / shrink >= box) return shrink;
  }
  return 1;
}

VImage Load(VipsBlob* blob, const ImageHeader& header, const RenderOptions& options) {
  VOption* common = VImage::option()
                        ->set("fail_on", VIPS_FAIL_ON_ERROR)
                        ->set("access", VIPS_ACCESS_SEQUENTIAL);
  switch (header.type) {
    case FileType::kJpeg:
      return VImage::jpegload_buffer(
          blob, common->set("shrink", JpegShrink(header, options.display_size)));
    case FileType::kPng:
      return VImage::pngload_buffer(blob, common);
    case FileType::kGif: {
      const bool keep_animation =
          options.format == PreviewFormat::kWebp || options.format == PreviewFormat::kGif;
      return VImage::gifload_buffer(blob, common->set("n", keep_animation ? -1 : 1));
    }
    case FileType::kUnknown:
      break;
  }
  delete common;
  throw vips::VError("no loader for this type");
}

// Fits `image` (all its pages) in a box x box square, never upscaling. The
// thumbnail operation also imports CMYK and embedded profiles and exports
// 8-bit sRGB (or 8-bit grey), premultiplying alpha around the resize.
VImage FitBox(const VImage& image, int box) {
  return image.thumbnail_image(box, VImage::option()
                                        ->set("height", box)
                                        ->set("size", VIPS_SIZE_DOWN)
                                        ->set("no_rotate", true));
}

// The thumbnail of the in-memory display: fitted in `box` as FitBox would
// size it, by one lanczos3 reduce. FitBox (thumbnail_image, then vips_resize)
// box-filters by the integer part of the shrink first, and libvips' shrink is
// the dear step there: 1600 x 1200 RGB to 256 px costs 9-10 ms through FitBox
// against 3.3 ms by reduce alone (libvips 8.16; docs/performance.md). An image
// with alpha keeps FitBox: it must be premultiplied around the resize, and
// reduce on the premultiplied floats is slower than FitBox.
VImage ThumbnailOfDisplay(const VImage& display, int box) {
  const int width = display.width();
  const int height = display.height();
  const int longest = std::max(width, height);
  if (display.has_alpha() || longest <= box) return FitBox(display, box);
  const double scale = double(box) / longest;
  const int to_width = std::max(1, static_cast<int>(std::lround(width * scale)));
  const int to_height = std::max(1, static_cast<int>(std::lround(height * scale)));
  return display.reduce(double(width) / to_width, double(height) / to_height,
                        VImage::option()->set("kernel", VIPS_KERNEL_LANCZOS3));
}

// 8-bit sRGB or grey whatever the thumbnail operation left (it normally
// leaves exactly that).
VImage EightBitSrgb(VImage image) {
  const VipsInterpretation type = image.interpretation();
  if (type != VIPS_INTERPRETATION_sRGB && type != VIPS_INTERPRETATION_B_W) {
    image = image.colourspace(VIPS_INTERPRETATION_sRGB);
  }
  if (image.format() != VIPS_FORMAT_UCHAR) image = image.cast(VIPS_FORMAT_UCHAR);
  return image;
}

VImage Strip(const VImage& in) {
  VImage image = in.copy();  // metadata changes must not touch `in`
  gchar** fields = vips_image_get_fields(image.get_image());
  for (gchar** field = fields; *field != nullptr; ++field) {
    if (!KeptFields().contains(*field)) image.remove(*field);
  }
  g_strfreev(fields);
  return image;
}

VImage FirstFrame(const VImage& image) {
  if (!IsAnimated(image)) return image;
  const int page_height = vips_image_get_page_height(image.get_image());
  VImage frame = image.crop(0, 0, image.width(), page_height).copy();
  frame.remove("page-height");
  frame.remove("delay");
  frame.remove("loop");
  return frame;
}

std::string TakeBlob(VipsBlob* blob) {
  size_t length = 0;
  const void* data = vips_blob_get(blob, &length);
  std::string bytes(static_cast<const char*>(data), length);
  vips_area_unref(VIPS_AREA(blob));
  return bytes;
}

uint32_t Le32(std::string_view b, size_t at) {
  return uint32_t(uint8_t(b[at])) | uint32_t(uint8_t(b[at + 1])) << 8 |
         uint32_t(uint8_t(b[at + 2])) << 16 | uint32_t(uint8_t(b[at + 3])) << 24;
}

// For animations (still images go to libwebp directly, webp_still.h):
// libvips 8.14.1's webpsave writes an EXIF chunk (orientation, resolution,
// pixel size) even with strip=true and no exif-data on the image. Drop the
// EXIF, XMP and ICCP chunks and clear their VP8X flags.
std::string DropWebpMetadata(std::string webp) {
  if (webp.size() < 12 || webp.compare(0, 4, "RIFF") != 0 ||
      webp.compare(8, 4, "WEBP") != 0) {
    throw vips::VError("webpsave wrote something that is not a WebP file");
  }
  std::string out = webp.substr(0, 12);
  for (size_t at = 12; at + 8 <= webp.size();) {
    const std::string_view fourcc(webp.data() + at, 4);
    const size_t chunk = 8 + size_t{Le32(webp, at + 4)} + (Le32(webp, at + 4) & 1);
    if (at + chunk > webp.size()) throw vips::VError("webpsave wrote a truncated chunk");
    if (fourcc != "EXIF" && fourcc != "XMP " && fourcc != "ICCP") {
      std::string piece = webp.substr(at, chunk);
      if (fourcc == "VP8X" && piece.size() > 8) piece[8] &= ~0x2C;  // ICC, EXIF, XMP
      out += piece;
    }
    at += chunk;
  }
  const uint32_t riff_size = static_cast<uint32_t>(out.size() - 8);
  for (int i = 0; i < 4; ++i) out[4 + i] = static_cast<char>(riff_size >> (8 * i));
  return out;
}

int Pages(const VImage& image) {
  return image.height() / vips_image_get_page_height(image.get_image());
}

std::string Encode(VImage image, const RenderOptions& options) {
  switch (options.format) {
    case PreviewFormat::kWebp:
      if (Pages(image) == 1) {
        return EncodeStillWebp(image, options.quality, options.webp_effort);
      }
      return DropWebpMetadata(
          TakeBlob(image.webpsave_buffer(VImage::option()
                                             ->set("Q", options.quality)
                                             ->set("effort", options.webp_effort)
                                             ->set("strip", true))));
    case PreviewFormat::kJpeg:
      if (image.has_alpha()) {
        image =
            image.flatten(VImage::option()->set("background", std::vector<double>{255}));
      }
      return TakeBlob(image.jpegsave_buffer(
          VImage::option()->set("Q", options.quality)->set("strip", true)));
    case PreviewFormat::kPng:
      return TakeBlob(image.pngsave_buffer(VImage::option()->set("strip", true)));
    case PreviewFormat::kGif:
      return TakeBlob(image.gifsave_buffer(VImage::option()->set("strip", true)));
  }
  throw vips::VError("unknown preview format");
}

// `keep` of the animation's frames, evenly spaced; each kept frame shows for
// the frames it stands for, so the animation plays as long as before.
VImage KeepFrames(const VImage& image, int keep) {
  const int page_height = vips_image_get_page_height(image.get_image());
  const int pages = Pages(image);
  std::vector<int> delays =
      image.get_typeof("delay") != 0 ? image.get_array_int("delay") : std::vector<int>();
  delays.resize(pages, 100);  // a missing delay plays as GIF's usual 1/10 s
  std::vector<VImage> frames;
  std::vector<int> merged;
  for (int j = 0; j < keep; ++j) {
    const int first = j * pages / keep;
    const int next = (j + 1) * pages / keep;
    frames.push_back(image.crop(0, first * page_height, image.width(), page_height));
    int delay = 0;
    for (int i = first; i < next; ++i) delay += delays[i];
    merged.push_back(delay);
  }
  VImage out =
      VImage::arrayjoin(frames, VImage::option()->set("across", 1)).copy_memory();
  out.set("page-height", page_height);
  out.set("delay", merged);
  if (image.get_typeof("loop") != 0) out.set("loop", image.get_int("loop"));
  return out;
}

bool Lossy(PreviewFormat format) {
  return format == PreviewFormat::kWebp || format == PreviewFormat::kJpeg;
}

// Encodes `image` in at most `budget` bytes: as it is; then an animation
// with fewer frames (down to 2, so it still moves) or a still image at a
// lower quality; then smaller, each step sized from how far the last one
// missed. Sets `*shown` to the image that was encoded.
std::string EncodeWithin(const VImage& image, const RenderOptions& options,
                         uint64_t budget, VImage* shown) {
  *shown = image;
  std::string bytes = Encode(image, options);
  if (bytes.size() <= budget) return bytes;
  // Aim a little under the bound: sizes do not scale exactly.
  auto ratio = [&] { return 0.85 * double(budget) / double(bytes.size()); };
  const int pages = Pages(image);
  if (pages > 2) {
    const int keep = std::clamp(static_cast<int>(pages * ratio()), 2, pages - 1);
    *shown = KeepFrames(image, keep);
    bytes = Encode(*shown, options);
  } else if (pages == 1 && Lossy(options.format)) {
    for (int quality : {60, 40}) {
      if (quality >= options.quality) continue;
      RenderOptions lower = options;
      lower.quality = quality;
      bytes = Encode(image, lower);
      if (bytes.size() <= budget) return bytes;
    }
  }
  for (int attempt = 0; attempt < 8 && bytes.size() > budget; ++attempt) {
    const int page_height = vips_image_get_page_height(shown->get_image());
    const int longest = std::max(shown->width(), page_height);
    if (longest <= 16) break;
    const int box = std::max(16, static_cast<int>(longest * std::sqrt(ratio())));
    *shown = FitBox(*shown, std::min(box, longest - 1)).copy_memory();
    bytes = Encode(*shown, options);
  }
  if (bytes.size() > budget) {
    // Can't happen with --max-preview-bytes at its minimum (64 KiB): 16 px fit.
    throw vips::VError("a preview could not be made small enough for its byte bound");
  }
  return bytes;
}

Preview MakePreview(Rendition rendition, const VImage& image,
                    const RenderOptions& options, uint64_t budget) {
  Preview preview;
  preview.rendition = rendition;
  preview.mime_type = std::string(PreviewMime(options.format));
  VImage shown;
  preview.data =
      std::make_shared<const std::string>(EncodeWithin(image, options, budget, &shown));
  preview.width = shown.width();
  preview.height = vips_image_get_page_height(shown.get_image());
  preview.sha256 = Sha256Hex(*preview.data);
  return preview;
}

absl::Status RenderWithVips(std::string_view bytes, const ImageHeader& header,
                            const RenderOptions& options, Renditions& out) {
  const BlobPtr blob = BlobOver(bytes);  // the caller's bytes, not copied
  const VImage source = Load(blob.get(), header, options);
  const int orientation = Orientation(source);

  // Decode once: the display rendition is built in memory, and the copy
  // pulls every pixel of the source through the loader, so truncation and
  // corruption fail here.
  VImage display = EightBitSrgb(FitBox(source, options.display_size)).copy_memory();
  if (orientation != 1) display = display.autorot().copy_memory();

  // Derived from the display before its metadata goes: thumbnail_image takes
  // the loader's "vips-sequential" hint, and without it runs about 4x slower
  // (measured with ref-libvips --service; docs/performance.md).
  const VImage thumbnail =
      ThumbnailOfDisplay(FirstFrame(display), options.thumbnail_size);

  out.width = header.width;
  out.height = header.height;
  if (orientation >= 5 && orientation <= 8) std::swap(out.width, out.height);
  out.frame_count = header.frame_count;
  const uint64_t display_budget = options.max_preview_bytes;
  const uint64_t thumbnail_budget =
      std::min(options.max_preview_bytes, kEventPreviewBudget - display_budget);
  out.display = MakePreview(Rendition::kDisplay, Strip(display), options, display_budget);
  out.thumbnail =
      MakePreview(Rendition::kThumbnail, Strip(thumbnail), options, thumbnail_budget);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Renditions> VipsRenderer::Render(std::string_view bytes,
                                                const ImageHeader& header) {
  Renditions renditions;
  absl::Status status =
      CallVips([&] { return RenderWithVips(bytes, header, options_, renditions); },
               FileTypeMime(header.type));
  if (!status.ok()) return status;
  return renditions;
}

std::string_view PreviewMime(PreviewFormat format) {
  switch (format) {
    case PreviewFormat::kWebp:
      return "image/webp";
    case PreviewFormat::kJpeg:
      return "image/jpeg";
    case PreviewFormat::kPng:
      return "image/png";
    case PreviewFormat::kGif:
      return "image/gif";
  }
  return "application/octet-stream";
}

}  // namespace docshare
