#ifndef DOCSHARE_TESTS_SUPPORT_NOISE_GIF_H_
#define DOCSHARE_TESTS_SUPPORT_NOISE_GIF_H_

#include <string>

namespace docshare::testing {

// An animated GIF of `frames` frames of grey noise, `edge` x `edge` each,
// 100 ms apart, encoded by libvips (cgif). Noise does not compress: 30 frames
// of 880 x 880 are about 30 MB, and their WebP display preview about 13 MB,
// the size that once made events too large for a default gRPC client.
// InitVips must have run.
std::string NoiseGif(int frames = 30, int edge = 880);

}  // namespace docshare::testing

#endif  // DOCSHARE_TESTS_SUPPORT_NOISE_GIF_H_
