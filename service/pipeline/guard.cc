#include "service/pipeline/guard.h"

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "service/common/reject.h"

// Hand-written container walkers: every read is bounds-checked against the
// input, nothing is allocated per byte of input, and no pixel is decoded.
// They run on hostile bytes before libvips sees them (and are fuzzed).

namespace docshare {
namespace {

// A bounds-checked cursor over the input.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }
  bool Has(size_t n) const { return remaining() >= n; }
  bool Skip(size_t n) {
    if (!Has(n)) return false;
    pos_ += n;
    return true;
  }
  std::optional<uint8_t> U8() {
    if (!Has(1)) return std::nullopt;
    return static_cast<uint8_t>(bytes_[pos_++]);
  }
  std::optional<uint8_t> Peek(size_t ahead = 0) const {
    if (!Has(ahead + 1)) return std::nullopt;
    return static_cast<uint8_t>(bytes_[pos_ + ahead]);
  }
  std::optional<uint32_t> U16Be() { return Multi(2, /*big_endian=*/true); }
  std::optional<uint32_t> U16Le() { return Multi(2, /*big_endian=*/false); }
  std::optional<uint32_t> U32Be() { return Multi(4, /*big_endian=*/true); }
  std::string_view View(size_t n) const { return bytes_.substr(pos_, n); }

 private:
  std::optional<uint32_t> Multi(size_t n, bool big_endian) {
    if (!Has(n)) return std::nullopt;
    uint32_t v = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t b = static_cast<uint8_t>(bytes_[pos_ + i]);
      v |= big_endian ? b << (8 * (n - 1 - i)) : b << (8 * i);
    }
    pos_ += n;
    return v;
  }

  std::string_view bytes_;
  size_t pos_ = 0;
};

absl::Status Corrupt(FileType type, std::string_view what) {
  return Reject(RejectReason::kCorruptImage, FileTypeMime(type),
                absl::StrCat("the ", std::string(FileTypeLabel(type)),
                             " file is damaged or not supported: ", std::string(what)));
}

// width*height, saturating (the product of two 31-bit values fits, but
// limits may be configured with any value).
uint64_t Pixels(uint64_t width, uint64_t height) {
  uint64_t product;
  if (__builtin_mul_overflow(width, height, &product)) return UINT64_MAX;
  return product;
}

absl::Status CheckFramePixels(FileType type, uint64_t width, uint64_t height,
                              const Limits& limits) {
  const uint64_t pixels = Pixels(width, height);
  if (pixels > limits.max_pixels) {
    return Reject(RejectReason::kDimensionsTooLarge, FileTypeMime(type),
                  absl::StrCat(width, "x", height, " is ", pixels,
                               " pixels; the limit is ", limits.max_pixels));
  }
  return absl::OkStatus();
}

absl::Status CheckLimits(const ImageHeader& h, const Limits& limits) {
  if (h.width <= 0 || h.height <= 0) {
    return Corrupt(h.type, absl::StrCat("its size is ", h.width, "x", h.height));
  }
  if (absl::Status s = CheckFramePixels(h.type, h.width, h.height, limits); !s.ok()) {
    return s;
  }
  if (h.frame_count > limits.max_frames) {
    return Reject(RejectReason::kTooManyFrames, FileTypeMime(h.type),
                  absl::StrCat("the animation has more than ", limits.max_frames,
                               " frames (the limit)"));
  }
  const uint64_t total = Pixels(Pixels(h.width, h.height), h.frame_count);
  if (total > limits.max_animation_pixels) {
    return Reject(RejectReason::kDimensionsTooLarge, FileTypeMime(h.type),
                  absl::StrCat(h.frame_count, " frames of ", h.width, "x", h.height,
                               " are ", total, " pixels; the limit for an animation is ",
                               limits.max_animation_pixels));
  }
  return absl::OkStatus();
}

// --- PNG: the signature, then IHDR must be the first chunk. -----------------

// Text and ICC profile chunks are metadata the previews strip anyway, but
// libpng inflates every one of them (12 zTXt chunks of 30 MB each held a
// worker for 10 s from a 358 KB file). Their decompressed total is bounded
// here, inflating at most this much before the verdict.
constexpr uint64_t kMaxPngMetadataBytes = 1u << 20;

// Inflates the zlib stream `in`, stopping as soon as more than `budget`
// bytes come out. Returns the bytes produced (budget + 1 at most); a broken
// stream counts what it produced before the error (libpng warns and skips).
uint64_t InflatedSize(std::string_view in, uint64_t budget) {
  z_stream z{};
  if (inflateInit(&z) != Z_OK) return budget + 1;  // no memory: refuse
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  unsigned char out[16384];
  uint64_t produced = 0;
  int rc = Z_OK;
  while (rc == Z_OK && produced <= budget) {
    z.next_out = out;
    z.avail_out = sizeof out;
    rc = inflate(&z, Z_NO_FLUSH);
    produced += sizeof out - z.avail_out;
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // truncated stream
  }
  inflateEnd(&z);
  return produced;
}

// The bytes libpng holds for one tEXt, zTXt, iTXt or iCCP chunk's `data`
// once decoded (0 for any other chunk), inflating no more than `budget`.
uint64_t PngMetadataBytes(std::string_view name, std::string_view data, uint64_t budget) {
  const bool text = name == "tEXt", ztext = name == "zTXt", itext = name == "iTXt",
             iccp = name == "iCCP";
  if (!text && !ztext && !itext && !iccp) return 0;
  const size_t keyword_end = data.find('\0');
  if (text || keyword_end == std::string_view::npos) return data.size();
  std::string_view rest = data.substr(keyword_end + 1);
  if (itext) {
    // compression flag, method, language tag\0, translated keyword\0, text
    if (rest.size() < 2 || rest[0] == 0) return data.size();
    rest.remove_prefix(2);
    for (int field = 0; field < 2; ++field) {
      const size_t end = rest.find('\0');
      if (end == std::string_view::npos) return data.size();
      rest.remove_prefix(end + 1);
    }
  } else {
    if (rest.empty()) return data.size();
    rest.remove_prefix(1);  // compression method
  }
  return keyword_end + InflatedSize(rest, budget);
}

// libpng reads a whole chunk into one buffer of its declared length before
// looking at it (text, iCCP, eXIf, unknown chunks): a length that runs past
// the end of the input costs up to 2 GiB for a few hundred bytes (found by
// render_fuzzer, testdata/fuzz-regressions/). Only IDAT is streamed, so a
// truncated IDAT is left to the decoder. `r` is at the chunk after IHDR.
absl::Status CheckPngChunks(Reader& r, FileType type) {
  uint64_t metadata = 0;
  while (r.Has(8)) {
    const uint32_t length = *r.U32Be();
    const std::string_view name = r.View(4);
    r.Skip(4);
    if (name == "IEND") break;  // anything after it is not the image's
    const std::string_view data = r.View(length);
    if (r.Skip(size_t{length} + 4)) {  // data and CRC
      metadata += PngMetadataBytes(name, data, kMaxPngMetadataBytes - metadata);
      if (metadata > kMaxPngMetadataBytes) {
        return Corrupt(type, absl::StrCat("its text and colour profile chunks hold more "
                                          "than ",
                                          kMaxPngMetadataBytes, " bytes"));
      }
      continue;
    }
    if (name == "IDAT") break;
    return Corrupt(type, "a chunk runs past the end of the file");
  }
  return absl::OkStatus();
}

absl::Status ReadPng(std::string_view bytes, ImageHeader& h) {
  static constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);
  Reader r(bytes);
  if (r.View(8) != kSignature || !r.Skip(8)) {
    return Corrupt(h.type, "no PNG signature");
  }
  const std::optional<uint32_t> length = r.U32Be();
  if (!length || r.View(4) != "IHDR" || !r.Skip(4)) {
    return Corrupt(h.type, "no IHDR chunk");
  }
  if (*length != 13 || !r.Has(13 + 4)) return Corrupt(h.type, "a broken IHDR chunk");
  const uint32_t width = *r.U32Be();
  const uint32_t height = *r.U32Be();
  // The PNG specification limits both to 2^31-1.
  constexpr uint32_t kMax = 0x7fffffff;
  if (width == 0 || height == 0 || width > kMax || height > kMax) {
    return Corrupt(h.type, absl::StrCat("its size is ", width, "x", height));
  }
  h.width = static_cast<int>(width);
  h.height = static_cast<int>(height);
  h.frame_count = 1;  // libvips decodes the first (default) image of an APNG
  r.Skip(5 + 4);      // the rest of IHDR and its CRC
  return CheckPngChunks(r, h.type);
}

// --- GIF: header, logical screen, then the block structure. ----------------

// Skips data sub-blocks up to and including the terminator. False when the
// input ends first.
bool SkipSubBlocks(Reader& r) {
  while (true) {
    const std::optional<uint8_t> size = r.U8();
    if (!size) return false;
    if (*size == 0) return true;
    if (!r.Skip(*size)) return false;
  }
}

absl::Status ReadGif(std::string_view bytes, const Limits& limits, ImageHeader& h) {
  Reader r(bytes);
  if ((r.View(6) != "GIF87a" && r.View(6) != "GIF89a") || !r.Skip(6)) {
    return Corrupt(h.type, "no GIF signature");
  }
  const std::optional<uint32_t> screen_w = r.U16Le();
  const std::optional<uint32_t> screen_h = r.U16Le();
  const std::optional<uint8_t> flags = r.U8();
  if (!screen_w || !screen_h || !flags || !r.Skip(2)) {
    return Corrupt(h.type, "a truncated header");
  }
  if ((*flags & 0x80) && !r.Skip(3u << ((*flags & 0x07) + 1))) {
    return Corrupt(h.type, "a truncated colour table");
  }
  // The decoder's canvas is the logical screen, which the first frame may
  // grow; later frames are clipped to it, but their own sizes still count.
  uint32_t canvas_w = *screen_w, canvas_h = *screen_h;
  int frames = 0;
  bool ended = false;
  while (!ended) {
    const std::optional<uint8_t> block = r.U8();
    if (!block) break;  // truncated after a block: the decoder decides
    switch (*block) {
      case 0x21:  // extension: label, then sub-blocks
        if (!r.Skip(1) || !SkipSubBlocks(r)) ended = true;
        break;
      case 0x2C: {  // image descriptor
        const std::optional<uint32_t> left = r.U16Le(), top = r.U16Le();
        const std::optional<uint32_t> w = r.U16Le(), fh = r.U16Le();
        const std::optional<uint8_t> image_flags = r.U8();
        if (!left || !top || !w || !fh || !image_flags) {
          ended = true;  // truncated inside the descriptor
          break;
        }
        ++frames;
        if (frames > limits.max_frames) {
          return Reject(RejectReason::kTooManyFrames, FileTypeMime(h.type),
                        absl::StrCat("the animation has more than ", limits.max_frames,
                                     " frames (the limit)"));
        }
        if (absl::Status s = CheckFramePixels(h.type, *w, *fh, limits); !s.ok()) {
          return s;
        }
        if (frames == 1) {
          canvas_w = std::max(canvas_w, *left + *w);
          canvas_h = std::max(canvas_h, *top + *fh);
        }
        if ((*image_flags & 0x80) && !r.Skip(3u << ((*image_flags & 0x07) + 1))) {
          ended = true;
          break;
        }
        if (!r.Skip(1) || !SkipSubBlocks(r)) ended = true;  // LZW code size, data
        break;
      }
      case 0x3B:  // trailer; anything after it is not the image's
        ended = true;
        break;
      default:
        // libnsgif stops at an unknown block; what came before is the image.
        ended = true;
        break;
    }
  }
  if (frames == 0) return Corrupt(h.type, "it holds no image");
  h.width = static_cast<int>(canvas_w);
  h.height = static_cast<int>(canvas_h);
  h.frame_count = frames;
  return absl::OkStatus();
}

// --- JPEG: markers up to the frame header, then count the scans. -----------

bool IsSof(uint8_t m) {
  return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

// What libjpeg-turbo 2.1 decodes: baseline, extended, progressive, and the
// arithmetic-coded sequential and progressive variants. Lossless (SOF3,
// SOF11) and hierarchical (SOF5-7, SOF13-15) are refused.
bool IsDecodableSof(uint8_t m) {
  return m == 0xC0 || m == 0xC1 || m == 0xC2 || m == 0xC9 || m == 0xCA;
}

// Skips entropy-coded data after an SOS header, leaving `r` on the 0xFF of
// the next marker (not a stuffed 0xFF00 or an RSTn). False at end of input.
bool SkipEntropyCoded(Reader& r) {
  while (r.Has(2)) {
    if (*r.Peek() != 0xFF) {
      r.Skip(1);
      continue;
    }
    const uint8_t next = *r.Peek(1);
    if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) {
      r.Skip(2);  // stuffed byte or restart marker: still in the scan
    } else if (next == 0xFF) {
      r.Skip(1);  // fill byte before a marker
    } else {
      return true;
    }
  }
  return false;
}

absl::Status ReadJpeg(std::string_view bytes, const Limits& limits, ImageHeader& h) {
  Reader r(bytes);
  if (r.Peek() != 0xFF || r.Peek(1) != 0xD8)
    return Corrupt(h.type, "no JPEG start marker");
  r.Skip(2);
  bool have_frame = false;
  int scans = 0;
  while (true) {
    // Like libjpeg, skip anything that is not a marker, then fill bytes.
    while (r.Has(1) && *r.Peek() != 0xFF) r.Skip(1);
    while (r.Has(2) && *r.Peek(1) == 0xFF) r.Skip(1);
    if (!r.Has(2)) break;  // truncated: the decoder decides
    r.Skip(1);
    const uint8_t marker = *r.U8();
    if (marker == 0xD9) break;  // EOI: anything after is not the image's
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;  // no length
    const std::optional<uint32_t> length = r.U16Be();
    if (!length) break;
    if (*length < 2) return Corrupt(h.type, "a marker segment with a bad length");
    if (IsSof(marker) && !have_frame) {
      if (!IsDecodableSof(marker)) {
        return Corrupt(h.type, marker == 0xC3 || marker == 0xCB
                                   ? "lossless JPEG is not supported"
                                   : "hierarchical JPEG is not supported");
      }
      if (*length < 8 || !r.Has(5)) return Corrupt(h.type, "a truncated frame header");
      Reader sof(r.View(5));
      sof.Skip(1);  // sample precision
      const uint32_t height = *sof.U16Be();
      const uint32_t width = *sof.U16Be();
      if (width == 0 || height == 0) {
        return Corrupt(h.type, absl::StrCat("its size is ", width, "x", height));
      }
      h.width = static_cast<int>(width);
      h.height = static_cast<int>(height);
      have_frame = true;
      // The limits are checked now: no need to read further for a flood.
      if (absl::Status s = CheckFramePixels(h.type, width, height, limits); !s.ok()) {
        return s;
      }
    }
    if (!r.Skip(*length - 2)) break;
    if (marker == 0xDA) {
      if (!have_frame) return Corrupt(h.type, "a scan before the frame header");
      if (++scans > limits.max_jpeg_scans) {
        return Corrupt(h.type, absl::StrCat("more than ", limits.max_jpeg_scans,
                                            " progressive scans"));
      }
      if (!SkipEntropyCoded(r)) break;
    }
  }
  if (!have_frame) return Corrupt(h.type, "no frame header");
  h.frame_count = 1;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ImageHeader> Guard(std::string_view bytes, FileType type,
                                  const Limits& limits) {
  ImageHeader h;
  h.type = type;
  h.bytes = bytes.size();
  absl::Status status;
  switch (type) {
    case FileType::kPng:
      status = ReadPng(bytes, h);
      break;
    case FileType::kGif:
      status = ReadGif(bytes, limits, h);
      break;
    case FileType::kJpeg:
      status = ReadJpeg(bytes, limits, h);
      break;
    case FileType::kUnknown:
      return Reject(RejectReason::kUnsupportedType, "",
                    "only JPEG, PNG and GIF are supported");
  }
  if (!status.ok()) return status;
  if (absl::Status s = CheckLimits(h, limits); !s.ok()) return s;
  return h;
}

}  // namespace docshare
