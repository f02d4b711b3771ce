#ifndef DOCSHARE_PIPELINE_WEBP_STILL_H_
#define DOCSHARE_PIPELINE_WEBP_STILL_H_

// A still (one-frame) WebP preview, encoded by libwebp straight from the
// image's pixels in memory.
//
// libvips' webpsave makes the same bitstream (the same WebPConfig: the
// default preset at `quality`, `method` = effort), but first copies the image
// line by line into a frame buffer of its own and, in libvips 8.14, writes
// EXIF the renderer must then cut out again. Encoding from the in-memory
// display directly saves about 9 % of the encode (measured with libvips 8.16
// and libwebp 1.5, docs/performance.md). Animations still go through
// webpsave (its WebPAnimEncoder carries frames, delays and loop).

#include <string>
#include <vips/vips8>

namespace docshare {

// `image`: 8-bit sRGB or grey, with or without alpha, one page. Writes no
// metadata chunk at all. Throws vips::VError when libwebp refuses (its error
// code in the text).
std::string EncodeStillWebp(const vips::VImage& image, int quality, int effort);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_WEBP_STILL_H_
