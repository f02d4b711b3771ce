#ifndef DOCSHARE_TESTS_SUPPORT_HOSTILE_H_
#define DOCSHARE_TESTS_SUPPORT_HOSTILE_H_

// Generators of hostile (and minimal valid) image files, built in memory so
// tests need no binary fixtures. Each returns the file's bytes.

#include <cstdint>
#include <string>
#include <string_view>

namespace docshare::testing {

// A 1-bit grey PNG: signature, IHDR (correct CRC), IDAT, IEND. The IDAT holds
// every (zero) pixel when the raw image is small (<= 1 MiB), else only the
// start of the stream: enough for a header check, not for a decode.
std::string PngWithDimensions(uint32_t width, uint32_t height);

// A complete, valid, interlaced (Adam7) 1-bit grey PNG of a square just under
// `max_pixels` pixels, all zero (a few tens of KB for 50 MP): a file that
// passes the header limits but still makes the decoder work.
std::string InterlacedPngNearLimit(uint64_t max_pixels);

// A valid 1x1 PNG with `count` `chunk` chunks (tEXt, zTXt, iTXt or iCCP)
// before its IDAT, each holding `inflated_bytes` zero bytes once decoded
// (compressed by zlib at level 9 where the chunk type is compressed). Issue
// 12's attack: 12 zTXt chunks of 30 MB are a 358 KB file.
std::string PngWithMetadataChunks(std::string_view chunk, int count,
                                  uint64_t inflated_bytes);

// The classic 35-byte GIF with its logical screen and its one frame set to
// width x height. Valid for 1x1; otherwise a pixel flood in a tiny file.
std::string GifWithDimensions(uint16_t width, uint16_t height);

// A valid GIF89a that loops forever, with `frames` 1x1 frames (a 10 ms delay
// each) on a width x height logical screen.
std::string GifWithFrames(int frames, uint16_t width = 1, uint16_t height = 1);

// A real baseline JPEG (libvips) whose SOF0 is patched to width x height.
std::string JpegWithDimensions(uint16_t width, uint16_t height);

// A real progressive JPEG (libvips) with its last scan repeated until it has
// at least `scans` SOS markers.
std::string JpegScanBomb(int scans);

// A real baseline JPEG (libvips) of `width` x `height`.
std::string SmallJpeg(int width = 32, int height = 24);

// `jpeg` with EXIF (ImageDescription and GPS), XMP and a COM segment
// inserted after SOI, each carrying `marker`.
std::string JpegWithMetadata(std::string_view jpeg, std::string_view marker);

// `image` followed by `payload` (after the image's end marker).
std::string Polyglot(std::string_view image, std::string_view payload);

}  // namespace docshare::testing

#endif  // DOCSHARE_TESTS_SUPPORT_HOSTILE_H_
