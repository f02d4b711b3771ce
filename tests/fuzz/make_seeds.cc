// Writes the hostile and minimal files of tests/support/hostile.h into a
// directory, as seeds for the image fuzzers (scripts/fuzz).
//   make_seeds DIR

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/hostile.h"

namespace t = docshare::testing;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  const std::string jpeg = t::SmallJpeg(16, 12);
  const std::vector<std::pair<std::string, std::string>> seeds = {
      {"png-1x1.png", t::PngWithDimensions(1, 1)},
      {"png-12x7.png", t::PngWithDimensions(12, 7)},
      {"png-flood.png", t::PngWithDimensions(30000, 30000)},
      {"png-interlaced-near-limit.png", t::InterlacedPngNearLimit(4'000'000)},
      {"gif-1x1.gif", t::GifWithDimensions(1, 1)},
      {"gif-flood.gif", t::GifWithDimensions(65535, 65535)},
      {"gif-frames.gif", t::GifWithFrames(8, 4, 4)},
      {"gif-frame-flood.gif", t::GifWithFrames(400)},
      {"jpeg-small.jpg", jpeg},
      {"jpeg-flood.jpg", t::JpegWithDimensions(65000, 65000)},
      {"jpeg-scan-bomb.jpg", t::JpegScanBomb(120)},
      {"jpeg-metadata.jpg", t::JpegWithMetadata(jpeg, "docshare-secret")},
      {"jpeg-polyglot.jpg", t::Polyglot(jpeg, "%PDF-1.4\n%%EOF\n")},
  };
  for (const auto& [name, bytes] : seeds) {
    std::ofstream out(dir / name, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
      return 1;
    }
  }
  return 0;
}
