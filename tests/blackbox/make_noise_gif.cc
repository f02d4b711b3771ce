// Writes the black-box tests' big GIF: make-noise-gif OUT [FRAMES EDGE].
#include <cstdio>
#include <fstream>
#include <string>

#include "service/pipeline/vips_boundary.h"
#include "tests/support/noise_gif.h"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 4) {
    std::fprintf(stderr, "usage: make-noise-gif OUT [FRAMES EDGE]\n");
    return 2;
  }
  if (!docshare::InitVips(argv[0]).ok()) return 1;
  const std::string gif =
      argc == 4 ? docshare::testing::NoiseGif(std::stoi(argv[2]), std::stoi(argv[3]))
                : docshare::testing::NoiseGif();
  std::ofstream out(argv[1], std::ios::binary);
  out.write(gif.data(), static_cast<std::streamsize>(gif.size()));
  return out.good() ? 0 : 1;
}
