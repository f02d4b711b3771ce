// Hostile inputs through the real stages: each must get a verdict, quickly,
// without a crash, an abort or a huge allocation.

#include "tests/support/hostile.h"

#include <string>

#include "gtest/gtest.h"
#include "service/common/reject.h"
#include "service/pipeline/guard.h"
#include "service/pipeline/render.h"
#include "service/pipeline/sniff.h"
#include "service/pipeline/vips_boundary.h"
#include "tests/pipeline/readback.h"

namespace docshare {
namespace {

class HostileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(InitVips("pipeline_tests").ok()); }

  static absl::StatusOr<Renditions> Run(const std::string& bytes,
                                        const Limits& limits = {}) {
    absl::StatusOr<SniffResult> sniffed = Sniff(bytes);
    if (!sniffed.ok()) return sniffed.status();
    absl::StatusOr<ImageHeader> header = Guard(bytes, sniffed->type, limits);
    if (!header.ok()) return header.status();
    return VipsRenderer({}).Render(bytes, *header);
  }
};

TEST_F(HostileTest, GeneratorsMakeWhatTheySay) {
  const std::string png = testing::PngWithDimensions(12, 7);
  EXPECT_EQ(Detect(png).type, FileType::kPng);
  absl::StatusOr<Renditions> r = Run(png);
  ASSERT_TRUE(r.ok()) << r.status();  // a complete, decodable PNG
  EXPECT_EQ(r->width, 12);
  EXPECT_EQ(r->height, 7);

  const std::string gif = testing::GifWithDimensions(1, 1);
  EXPECT_EQ(gif.size(), 35u);
  EXPECT_TRUE(Run(gif).ok());

  r = Run(testing::GifWithFrames(20, 4, 3));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->frame_count, 20);
  EXPECT_EQ(r->width, 4);

  const std::string jpeg = testing::JpegWithDimensions(300, 200);
  absl::StatusOr<ImageHeader> h = Guard(jpeg, FileType::kJpeg, Limits{});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->width, 300);
  EXPECT_EQ(h->height, 200);
}

TEST_F(HostileTest, The35ByteGifFloodNeverReachesTheDecoder) {
  const std::string gif = testing::GifWithDimensions(65535, 65535);
  EXPECT_EQ(gif.size(), 35u);
  EXPECT_EQ(GetRejectReason(Run(gif).status()), RejectReason::kDimensionsTooLarge);
}

TEST_F(HostileTest, PngAndJpegFloods) {
  EXPECT_EQ(GetRejectReason(Run(testing::PngWithDimensions(100000, 100000)).status()),
            RejectReason::kDimensionsTooLarge);
  EXPECT_EQ(GetRejectReason(Run(testing::JpegWithDimensions(65535, 65535)).status()),
            RejectReason::kDimensionsTooLarge);
}

TEST_F(HostileTest, ScanBombIsRejectedBeforeDecoding) {
  const std::string bomb = testing::JpegScanBomb(500);
  absl::StatusOr<Renditions> r = Run(bomb);
  EXPECT_EQ(GetRejectReason(r.status()), RejectReason::kCorruptImage);
  EXPECT_EQ(GetDetectedMime(r.status()), "image/jpeg");
}

TEST_F(HostileTest, TooManyFramesAndAnimationPixels) {
  EXPECT_EQ(GetRejectReason(Run(testing::GifWithFrames(1000)).status()),
            RejectReason::kTooManyFrames);
  EXPECT_EQ(GetRejectReason(Run(testing::GifWithFrames(260, 1000, 1000)).status()),
            RejectReason::kDimensionsTooLarge);
}

TEST_F(HostileTest, InterlacedPngJustUnderTheLimitIsDecoded) {
  // A few tens of KB that decode to ~1M pixels here (the limit is lowered
  // so the test stays fast; the generator scales to the real 50 MP).
  Limits limits;
  limits.max_pixels = 1'000'000;
  const std::string png = testing::InterlacedPngNearLimit(limits.max_pixels);
  EXPECT_LT(png.size(), 20'000u);
  absl::StatusOr<Renditions> r = Run(png, limits);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->width, 1000);
  EXPECT_EQ(r->display.width, 1000);
  limits.max_pixels = 999'999;
  EXPECT_EQ(GetRejectReason(Run(png, limits).status()),
            RejectReason::kDimensionsTooLarge);
  // At the default limit the file is still small and passes the guard.
  const std::string big = testing::InterlacedPngNearLimit(Limits{}.max_pixels);
  EXPECT_LT(big.size(), 200'000u);
  absl::StatusOr<ImageHeader> h = Guard(big, FileType::kPng, Limits{});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->width, 7071);
}

TEST_F(HostileTest, PolyglotPayloadNeverReachesThePreview) {
  const std::string marker = "POLYGLOT-PAYLOAD-c0ffee";
  const std::string payload = "<html><script>" + marker + "</script></html>";
  for (const std::string& image :
       {testing::SmallJpeg(), testing::PngWithDimensions(16, 16),
        testing::GifWithFrames(3)}) {
    const std::string polyglot = testing::Polyglot(image, payload);
    absl::StatusOr<Renditions> r = Run(polyglot);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->display.data->find(marker), std::string::npos);
    EXPECT_EQ(r->thumbnail.data->find(marker), std::string::npos);
    EXPECT_EQ(testing::ForbiddenFields(testing::ReadPreview(r->display).fields),
              std::vector<std::string>{});
  }
}

TEST_F(HostileTest, RandomMutationsGetAVerdictNotACrash) {
  // Deterministic byte flips over real files: every outcome is OK or a
  // rejection, never INTERNAL, a crash or a sanitizer report.
  const std::string seeds[] = {testing::SmallJpeg(48, 32),
                               testing::PngWithDimensions(20, 20),
                               testing::GifWithFrames(4, 3, 3)};
  uint32_t state = 12345;
  auto next = [&state] { return state = state * 1103515245u + 12345u; };
  int rejected = 0;
  for (const std::string& seed : seeds) {
    for (int i = 0; i < 60; ++i) {
      std::string bytes = seed;
      for (int k = 0; k < 4; ++k)
        bytes[(next() >> 8) % bytes.size()] = char(next() >> 16);
      absl::StatusOr<Renditions> r = Run(bytes);
      if (!r.ok()) {
        EXPECT_NE(GetRejectReason(r.status()), RejectReason::kNone) << r.status();
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace docshare
