#include "tests/support/hostile.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <vips/vips8>

namespace docshare::testing {
namespace {

void PutBe32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}
void PutBe16(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}
void PutLe16(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v));
  out.push_back(static_cast<char>(v >> 8));
}
void PutLe32(std::string& out, uint32_t v) {
  PutLe16(out, v & 0xffff);
  PutLe16(out, v >> 16);
}

uint32_t Crc32(std::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  uint32_t c = 0xffffffffu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

void PngChunk(std::string& out, std::string_view type, std::string_view data) {
  PutBe32(out, static_cast<uint32_t>(data.size()));
  std::string body(type);
  body.append(data);
  out.append(body);
  PutBe32(out, Crc32(body));
}

// LSB-first bit writer for deflate.
class BitWriter {
 public:
  void Bits(uint32_t value, int count) {  // value's low bits, LSB first
    for (int i = 0; i < count; ++i) Bit((value >> i) & 1);
  }
  void Code(uint32_t code, int length) {  // Huffman code, MSB first
    for (int i = length - 1; i >= 0; --i) Bit((code >> i) & 1);
  }
  std::string Finish() {
    if (nbits_ > 0) out_.push_back(static_cast<char>(acc_));
    return std::move(out_);
  }

 private:
  void Bit(uint32_t b) {
    acc_ |= b << nbits_;
    if (++nbits_ == 8) {
      out_.push_back(static_cast<char>(acc_));
      acc_ = 0;
      nbits_ = 0;
    }
  }
  std::string out_;
  uint32_t acc_ = 0;
  int nbits_ = 0;
};

// A zlib stream of `n` zero bytes (n >= 1): one fixed-Huffman block, a
// literal zero then matches of 258 at distance 1.
std::string ZlibZeros(uint64_t n) {
  BitWriter w;
  w.Bits(1, 1);     // BFINAL
  w.Bits(1, 2);     // fixed Huffman
  w.Code(0x30, 8);  // literal 0
  uint64_t left = n - 1;
  for (; left >= 258; left -= 258) {
    w.Code(0xC5, 8);  // length 258 (code 285)
    w.Code(0, 5);     // distance 1
  }
  for (; left > 0; --left) w.Code(0x30, 8);
  w.Code(0, 7);  // end of block
  std::string out("\x78\x01", 2);
  out += w.Finish();
  PutBe32(out, static_cast<uint32_t>((n % 65521) << 16 | 1));  // Adler-32
  return out;
}

// Raw (filtered) bytes of a 1-bit grey image, one filter byte per row.
uint64_t RawBytes(uint64_t width, uint64_t height) {
  if (width == 0 || height == 0) return 0;
  return height * (1 + (width + 7) / 8);
}

uint64_t InterlacedRawBytes(uint64_t width, uint64_t height) {
  static constexpr int kStart[7][2] = {{0, 0}, {4, 0}, {0, 4}, {2, 0},
                                       {0, 2}, {1, 0}, {0, 1}};
  static constexpr int kStep[7][2] = {{8, 8}, {8, 8}, {4, 8}, {4, 4},
                                      {2, 4}, {2, 2}, {1, 2}};
  uint64_t total = 0;
  for (int p = 0; p < 7; ++p) {
    const uint64_t cols = width > uint64_t(kStart[p][0])
                              ? (width - kStart[p][0] + kStep[p][0] - 1) / kStep[p][0]
                              : 0;
    const uint64_t rows = height > uint64_t(kStart[p][1])
                              ? (height - kStart[p][1] + kStep[p][1] - 1) / kStep[p][1]
                              : 0;
    total += RawBytes(cols, rows);
  }
  return total;
}

std::string Png(uint32_t width, uint32_t height, bool interlaced, std::string idat) {
  std::string out("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  PutBe32(ihdr, width);
  PutBe32(ihdr, height);
  ihdr += std::string("\x01\x00\x00\x00", 4);  // 1-bit, grey, deflate, filter 0
  ihdr.push_back(interlaced ? 1 : 0);
  PngChunk(out, "IHDR", ihdr);
  PngChunk(out, "IDAT", idat);
  PngChunk(out, "IEND", "");
  return out;
}

// libvips may already run (vips_init is idempotent); the service's own
// InitVips adds its loader blocks on top.
void EnsureVips() {
  static const bool started = VIPS_INIT("docshare-tests") == 0;
  if (!started) throw std::runtime_error("vips_init failed");
}

std::string JpegBuffer(const vips::VImage& image, bool progressive) {
  void* buf = nullptr;
  size_t len = 0;
  image.write_to_buffer(
      ".jpg", &buf, &len,
      vips::VImage::option()->set("interlace", progressive)->set("strip", true));
  std::string out(static_cast<const char*>(buf), len);
  g_free(buf);
  return out;
}

vips::VImage Gradient(int width, int height) {
  EnsureVips();
  return vips::VImage::xyz(width, height)[0]
      .cast(VIPS_FORMAT_UCHAR)
      .bandjoin({vips::VImage::xyz(width, height)[1].cast(VIPS_FORMAT_UCHAR),
                 (vips::VImage::black(width, height) + 128).cast(VIPS_FORMAT_UCHAR)});
}

// Offsets of each marker's 0xFF in a JPEG's header segments and scans.
std::vector<size_t> SosOffsets(std::string_view jpeg) {
  std::vector<size_t> out;
  for (size_t i = 0; i + 1 < jpeg.size(); ++i) {
    if (static_cast<uint8_t>(jpeg[i]) == 0xFF &&
        static_cast<uint8_t>(jpeg[i + 1]) == 0xDA) {
      out.push_back(i);
    }
  }
  return out;
}

}  // namespace

std::string PngWithDimensions(uint32_t width, uint32_t height) {
  const uint64_t raw = RawBytes(width, height);
  std::string idat;
  if (raw > 0 && raw <= (1u << 20)) {
    idat = ZlibZeros(raw);
  } else {
    idat = ZlibZeros(1u << 16).substr(0, 64);  // a stream that stops early
  }
  return Png(width, height, /*interlaced=*/false, std::move(idat));
}

std::string InterlacedPngNearLimit(uint64_t max_pixels) {
  const auto side = static_cast<uint32_t>(std::sqrt(static_cast<double>(max_pixels)));
  return Png(side, side, /*interlaced=*/true, ZlibZeros(InterlacedRawBytes(side, side)));
}

std::string PngWithMetadataChunks(std::string_view chunk, int count,
                                  uint64_t inflated_bytes) {
  const std::string zeros(inflated_bytes, '\0');
  uLongf size = compressBound(zeros.size());
  std::string deflated(size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(deflated.data()), &size,
                reinterpret_cast<const Bytef*>(zeros.data()), zeros.size(), 9) != Z_OK) {
    throw std::runtime_error("compress2 failed");
  }
  deflated.resize(size);
  std::string data("comment", 7);
  data.push_back('\0');
  if (chunk == "tEXt") {
    data += std::string(inflated_bytes, 'x');
  } else if (chunk == "iTXt") {
    data += std::string(
                "\x01\x00"
                "en\0\0",
                6) +
            deflated;  // compressed, no names
  } else {
    data.push_back('\0');  // deflate
    data += deflated;
  }
  const std::string png = PngWithDimensions(1, 1);
  const size_t idat = png.find("IDAT") - 4;
  std::string out = png.substr(0, idat);
  for (int i = 0; i < count; ++i) PngChunk(out, chunk, data);
  return out + png.substr(idat);
}

std::string GifWithDimensions(uint16_t width, uint16_t height) {
  std::string out("GIF89a");
  PutLe16(out, width);
  PutLe16(out, height);
  out += std::string("\x80\x00\x00\xff\xff\xff\x00\x00\x00", 9);  // 2-colour table
  out.push_back('\x2c');
  PutLe16(out, 0);
  PutLe16(out, 0);
  PutLe16(out, width);
  PutLe16(out, height);
  out += std::string("\x00\x02\x02\x44\x01\x00\x3b", 7);
  return out;
}

std::string GifWithFrames(int frames, uint16_t width, uint16_t height) {
  std::string out("GIF89a");
  PutLe16(out, width);
  PutLe16(out, height);
  out += std::string("\x80\x00\x00\xff\xff\xff\x00\x00\x00", 9);
  // NETSCAPE2.0: loop forever.
  out += std::string("\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00", 19);
  for (int i = 0; i < frames; ++i) {
    // Graphic control: 10 ms delay (1 cs), no transparency.
    out += std::string("\x21\xf9\x04\x00\x01\x00\x00\x00", 8);
    out.push_back('\x2c');
    PutLe16(out, 0);
    PutLe16(out, 0);
    PutLe16(out, 1);
    PutLe16(out, 1);
    out.push_back('\x00');
    // LZW: min code size 2; clear, pixel index (i % 2), end.
    out += std::string("\x02\x02", 2);
    out.push_back(i % 2 ? '\x4c' : '\x44');
    out += std::string("\x01\x00", 2);
  }
  out.push_back('\x3b');
  return out;
}

std::string SmallJpeg(int width, int height) {
  return JpegBuffer(Gradient(width, height), /*progressive=*/false);
}

std::string JpegWithDimensions(uint16_t width, uint16_t height) {
  std::string jpeg = SmallJpeg(16, 16);
  for (size_t i = 2; i + 9 < jpeg.size(); ++i) {
    if (static_cast<uint8_t>(jpeg[i]) == 0xFF &&
        static_cast<uint8_t>(jpeg[i + 1]) == 0xC0) {
      std::string dims;
      PutBe16(dims, height);
      PutBe16(dims, width);
      jpeg.replace(i + 5, 4, dims);
      return jpeg;
    }
  }
  throw std::logic_error("libvips wrote a JPEG without SOF0");
}

std::string JpegScanBomb(int scans) {
  std::string jpeg = JpegBuffer(Gradient(16, 16), /*progressive=*/true);
  const std::vector<size_t> sos = SosOffsets(jpeg);
  const size_t eoi = jpeg.size() - 2;  // libvips ends with FF D9
  const std::string last_scan = jpeg.substr(sos.back(), eoi - sos.back());
  std::string out = jpeg.substr(0, eoi);
  for (int n = static_cast<int>(sos.size()); n < scans; ++n) out += last_scan;
  out += "\xff\xd9";
  return out;
}

std::string JpegWithMetadata(std::string_view jpeg, std::string_view marker) {
  // EXIF: a little-endian TIFF with IFD0 {ImageDescription, GPSInfo} and a
  // GPS IFD {GPSVersionID, GPSLatitudeRef, GPSLatitude}.
  std::string desc(marker);
  desc.push_back('\0');
  std::string tiff("II*\0", 4);
  PutLe32(tiff, 8);
  const uint32_t ifd0_size = 2 + 2 * 12 + 4;
  const uint32_t gps_offset = 8 + ifd0_size;
  const uint32_t gps_size = 2 + 3 * 12 + 4;
  const uint32_t desc_offset = gps_offset + gps_size;
  const uint32_t lat_offset = desc_offset + static_cast<uint32_t>(desc.size());
  PutLe16(tiff, 2);
  PutLe16(tiff, 0x010E);
  PutLe16(tiff, 2);
  PutLe32(tiff, desc.size());
  PutLe32(tiff, desc_offset);
  PutLe16(tiff, 0x8825);
  PutLe16(tiff, 4);
  PutLe32(tiff, 1);
  PutLe32(tiff, gps_offset);
  PutLe32(tiff, 0);
  PutLe16(tiff, 3);
  PutLe16(tiff, 0x0000);
  PutLe16(tiff, 1);
  PutLe32(tiff, 4);
  tiff += std::string("\x02\x02\x00\x00", 4);
  PutLe16(tiff, 0x0001);
  PutLe16(tiff, 2);
  PutLe32(tiff, 2);
  tiff += std::string("N\0\0\0", 4);
  PutLe16(tiff, 0x0002);
  PutLe16(tiff, 5);
  PutLe32(tiff, 3);
  PutLe32(tiff, lat_offset);
  PutLe32(tiff, 0);
  tiff += desc;
  for (uint32_t v : {52u, 1u, 31u, 1u, 0u, 1u}) PutLe32(tiff, v);

  auto segment = [](uint8_t marker_byte, std::string_view body) {
    std::string s("\xff", 1);
    s.push_back(static_cast<char>(marker_byte));
    PutBe16(s, static_cast<uint32_t>(body.size() + 2));
    s.append(body);
    return s;
  };
  std::string exif("Exif\0\0", 6);
  exif += tiff;
  std::string xmp("http://ns.adobe.com/xap/1.0/\0", 29);
  xmp +=
      "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF "
      "xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">"
      "<rdf:Description xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
      "dc:description=\"";
  xmp += marker;
  xmp += "\"/></rdf:RDF></x:xmpmeta>";

  std::string out(jpeg.substr(0, 2));
  out += segment(0xE1, exif);
  out += segment(0xE1, xmp);
  out += segment(0xFE, marker);
  out.append(jpeg.substr(2));
  return out;
}

std::string Polyglot(std::string_view image, std::string_view payload) {
  std::string out(image);
  out.append(payload);
  return out;
}

}  // namespace docshare::testing
