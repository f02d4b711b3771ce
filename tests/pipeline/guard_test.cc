#include "service/pipeline/guard.h"

#include <string>

#include "gtest/gtest.h"
#include "service/common/reject.h"
#include "tests/support/files.h"
#include "tests/support/hostile.h"

namespace docshare {
namespace {

using ::docshare::testing::CorpusPath;
using ::docshare::testing::ReadFile;

RejectReason ReasonOf(const absl::StatusOr<ImageHeader>& result) {
  return GetRejectReason(result.status());
}

TEST(GuardTest, ReadsPngDimensions) {
  absl::StatusOr<ImageHeader> h =
      Guard(ReadFile(CorpusPath("pngsuite/basn2c08.png")), FileType::kPng, Limits{});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->type, FileType::kPng);
  EXPECT_EQ(h->width, 32);
  EXPECT_EQ(h->height, 32);
  EXPECT_EQ(h->frame_count, 1);
  EXPECT_GT(h->bytes, 0u);
}

TEST(GuardTest, ReadsJpegDimensionsPastAppSegments) {
  absl::StatusOr<ImageHeader> h =
      Guard(ReadFile(CorpusPath("sharp/2569067123_aca715a2ee_o.jpg")), FileType::kJpeg,
            Limits{});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->width, 2725);
  EXPECT_EQ(h->height, 2225);
  h = Guard(ReadFile(CorpusPath("sharp/Channel_digital_image_CMYK_color.jpg")),
            FileType::kJpeg, Limits{});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_GT(h->width, 0);
}

TEST(GuardTest, CountsGifFrames) {
  absl::StatusOr<ImageHeader> h =
      Guard(ReadFile(CorpusPath("sharp/animated-loop-3.gif")), FileType::kGif, Limits{});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->frame_count, 10);  // vipsheader -f n-pages agrees
  h = Guard(ReadFile(CorpusPath("sharp/rotating-squares.gif")), FileType::kGif, Limits{});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->frame_count, 30);
  EXPECT_EQ(h->width, 80);
  h = Guard(testing::GifWithFrames(7, 20, 10), FileType::kGif, Limits{});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->frame_count, 7);
  EXPECT_EQ(h->width, 20);
  EXPECT_EQ(h->height, 10);
}

TEST(GuardTest, PixelFloodsAreDimensionsTooLarge) {
  absl::StatusOr<ImageHeader> h =
      Guard(ReadFile(CorpusPath("sharp/giant-image.jpg")), FileType::kJpeg, Limits{});
  EXPECT_EQ(ReasonOf(h), RejectReason::kDimensionsTooLarge);
  EXPECT_EQ(std::string(h.status().message()),
            "20000x14000 is 280000000 pixels; the limit is 50000000");
  EXPECT_EQ(GetDetectedMime(h.status()), "image/jpeg");
  EXPECT_EQ(ReasonOf(Guard(ReadFile(CorpusPath("sharp/65536-uint32-limit.png")),
                           FileType::kPng, Limits{})),
            RejectReason::kDimensionsTooLarge);
  EXPECT_EQ(
      ReasonOf(Guard(testing::GifWithDimensions(65535, 65535), FileType::kGif, Limits{})),
      RejectReason::kDimensionsTooLarge);
  EXPECT_EQ(
      ReasonOf(Guard(testing::PngWithDimensions(10000, 5001), FileType::kPng, Limits{})),
      RejectReason::kDimensionsTooLarge);
  EXPECT_EQ(ReasonOf(Guard(testing::JpegWithDimensions(65000, 1000), FileType::kJpeg,
                           Limits{})),
            RejectReason::kDimensionsTooLarge);
}

TEST(GuardTest, ExactlyAtThePixelLimitPasses) {
  EXPECT_TRUE(
      Guard(testing::PngWithDimensions(10000, 5000), FileType::kPng, Limits{}).ok());
  Limits small;
  small.max_pixels = 100;
  EXPECT_TRUE(Guard(testing::PngWithDimensions(10, 10), FileType::kPng, small).ok());
  EXPECT_EQ(ReasonOf(Guard(testing::PngWithDimensions(10, 11), FileType::kPng, small)),
            RejectReason::kDimensionsTooLarge);
}

TEST(GuardTest, AGifFrameLargerThanItsScreenCounts) {
  // A 1x1 screen whose second frame declares 65535x65535.
  std::string gif = testing::GifWithFrames(2);
  const size_t second = gif.rfind('\x2c');
  gif[second + 5] = gif[second + 6] = gif[second + 7] = gif[second + 8] = '\xff';
  EXPECT_EQ(ReasonOf(Guard(gif, FileType::kGif, Limits{})),
            RejectReason::kDimensionsTooLarge);
}

TEST(GuardTest, TooManyFrames) {
  EXPECT_TRUE(Guard(testing::GifWithFrames(300), FileType::kGif, Limits{}).ok());
  absl::StatusOr<ImageHeader> h =
      Guard(testing::GifWithFrames(301), FileType::kGif, Limits{});
  EXPECT_EQ(ReasonOf(h), RejectReason::kTooManyFrames);
  EXPECT_NE(h.status().message().find("300"), std::string::npos);
}

TEST(GuardTest, AnimationPixelsOverAllFrames) {
  // 250 frames of a 1000x1000 screen: 250 MP > 200 MP, each frame fine.
  absl::StatusOr<ImageHeader> h =
      Guard(testing::GifWithFrames(250, 1000, 1000), FileType::kGif, Limits{});
  EXPECT_EQ(ReasonOf(h), RejectReason::kDimensionsTooLarge);
  EXPECT_NE(h.status().message().find("250000000"), std::string::npos);
  EXPECT_TRUE(
      Guard(testing::GifWithFrames(200, 1000, 1000), FileType::kGif, Limits{}).ok());
}

TEST(GuardTest, ScanBombIsCorrupt) {
  absl::StatusOr<ImageHeader> h =
      Guard(testing::JpegScanBomb(150), FileType::kJpeg, Limits{});
  EXPECT_EQ(ReasonOf(h), RejectReason::kCorruptImage);
  EXPECT_NE(h.status().message().find("more than 100 progressive scans"),
            std::string::npos);
  EXPECT_TRUE(Guard(testing::JpegScanBomb(100), FileType::kJpeg, Limits{}).ok());
  Limits strict;
  strict.max_jpeg_scans = 5;
  EXPECT_EQ(ReasonOf(Guard(testing::JpegScanBomb(6), FileType::kJpeg, strict)),
            RejectReason::kCorruptImage);
}

TEST(GuardTest, ScanCountingSkipsStuffedBytesAndRestarts) {
  // An FF DA after FF must not count once stuffed: 300 fake "scans" inside
  // entropy-coded data that are really stuffing (FF 00 DA) or restarts.
  std::string jpeg = testing::SmallJpeg(16, 16);
  const size_t sos = jpeg.rfind("\xff\xda");
  const size_t data = sos + 2 + ((uint8_t(jpeg[sos + 2]) << 8) | uint8_t(jpeg[sos + 3]));
  std::string noise;
  for (int i = 0; i < 300; ++i) noise += std::string("\xff\x00\xda\xff\xd3", 5);
  jpeg.insert(data, noise);
  EXPECT_TRUE(Guard(jpeg, FileType::kJpeg, Limits{}).ok());
}

TEST(GuardTest, LosslessAndHierarchicalJpegAreCorrupt) {
  absl::StatusOr<ImageHeader> h =
      Guard(ReadFile(CorpusPath("sharp/testimgl.jpg")), FileType::kJpeg, Limits{});
  EXPECT_EQ(ReasonOf(h), RejectReason::kCorruptImage);
  EXPECT_NE(h.status().message().find("lossless"), std::string::npos);
  for (char sof : {'\xc3', '\xc5', '\xc7', '\xcb', '\xcd', '\xcf'}) {
    std::string jpeg = testing::SmallJpeg();
    jpeg[jpeg.find("\xff\xc0") + 1] = sof;
    EXPECT_EQ(ReasonOf(Guard(jpeg, FileType::kJpeg, Limits{})),
              RejectReason::kCorruptImage)
        << std::hex << int(uint8_t(sof));
  }
  for (char sof : {'\xc1', '\xc2', '\xc9', '\xca'}) {  // what libjpeg-turbo decodes
    std::string jpeg = testing::SmallJpeg();
    jpeg[jpeg.find("\xff\xc0") + 1] = sof;
    EXPECT_TRUE(Guard(jpeg, FileType::kJpeg, Limits{}).ok())
        << std::hex << int(uint8_t(sof));
  }
}

TEST(GuardTest, MissingOrTruncatedHeadersAreCorrupt) {
  const std::string png = testing::PngWithDimensions(4, 4);
  const std::string gif = testing::GifWithDimensions(1, 1);
  const std::string jpeg = testing::SmallJpeg();
  struct Case {
    std::string name;
    std::string bytes;
    FileType type;
  };
  const std::vector<Case> cases = {
      {"png signature only", png.substr(0, 8), FileType::kPng},
      {"png half IHDR", png.substr(0, 20), FileType::kPng},
      {"png zero width", testing::PngWithDimensions(0, 4), FileType::kPng},
      {"png width over 2^31-1", testing::PngWithDimensions(0x80000000u, 1),
       FileType::kPng},
      {"gif header only", gif.substr(0, 6), FileType::kGif},
      {"gif no frame", gif.substr(0, 13 + 6) + ";", FileType::kGif},
      {"gif zero size", testing::GifWithDimensions(0, 0), FileType::kGif},
      {"jpeg soi only", jpeg.substr(0, 2), FileType::kJpeg},
      {"jpeg no sof", jpeg.substr(0, jpeg.find("\xff\xc0")), FileType::kJpeg},
      {"jpeg not jpeg", "hello world", FileType::kJpeg},
      {"empty png", "", FileType::kPng},
      {"corrupt-header.jpg", ReadFile(CorpusPath("sharp/corrupt-header.jpg")),
       FileType::kJpeg},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ImageHeader> h = Guard(c.bytes, c.type, Limits{});
    EXPECT_EQ(ReasonOf(h), RejectReason::kCorruptImage) << c.name << ": " << h.status();
  }
}

TEST(GuardTest, EveryPrefixOfARealFileIsHandled) {
  // Truncated at every byte: a verdict, never a crash or an overread (ASan).
  struct Case {
    const char* file;
    FileType type;
  };
  for (const Case& c : {Case{"sharp/320x240.jpg", FileType::kJpeg},
                        Case{"sharp/animated-loop-3.gif", FileType::kGif},
                        Case{"pngsuite/basn6a16.png", FileType::kPng}}) {
    const char* file = c.file;
    const FileType type = c.type;
    const std::string bytes = ReadFile(CorpusPath(file)).substr(0, 4000);
    for (size_t n = 0; n <= bytes.size(); ++n) {
      const std::string prefix = bytes.substr(0, n);  // own allocation: exact bounds
      absl::StatusOr<ImageHeader> h = Guard(prefix, type, Limits{});
      if (!h.ok())
        EXPECT_EQ(ReasonOf(h), RejectReason::kCorruptImage) << file << " " << n;
    }
  }
}

TEST(GuardTest, PolyglotPayloadDoesNotChangeTheVerdict) {
  const std::string payload =
      "%PDF-1.4\n" + std::string(1000, '\xff') + "\xff\xda\xff\xda";
  absl::StatusOr<ImageHeader> h =
      Guard(testing::Polyglot(testing::SmallJpeg(), payload), FileType::kJpeg, Limits{});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->width, 32);
  EXPECT_EQ(h->height, 24);
}

}  // namespace
}  // namespace docshare

namespace docshare {
namespace {

// Issue 12 attack 5: 12 zTXt chunks of 30 MB decompressed each, a 358 KB
// file, held a render worker for its full timeout. The guard refuses it
// before libpng inflates anything.
TEST(GuardPngMetadata, TheZtxtBombIsRefusedByTheGuard) {
  const std::string bomb = testing::PngWithMetadataChunks("zTXt", 12, 30'000'000);
  EXPECT_LT(bomb.size(), 400u * 1024);
  absl::StatusOr<ImageHeader> h = Guard(bomb, FileType::kPng, Limits{});
  EXPECT_EQ(ReasonOf(h), RejectReason::kCorruptImage) << h.status();
  EXPECT_EQ(GetDetectedMime(h.status()), "image/png");
  EXPECT_NE(h.status().message().find("text and colour profile"), std::string::npos)
      << h.status();
}

TEST(GuardPngMetadata, EveryMetadataChunkTypeCountsItsDecodedSize) {
  for (const char* chunk : {"tEXt", "zTXt", "iTXt", "iCCP"}) {
    SCOPED_TRACE(chunk);
    // One chunk just over the bound, and several that add up over it.
    EXPECT_EQ(ReasonOf(Guard(testing::PngWithMetadataChunks(chunk, 1, 1u << 21),
                             FileType::kPng, Limits{})),
              RejectReason::kCorruptImage);
    EXPECT_EQ(ReasonOf(Guard(testing::PngWithMetadataChunks(chunk, 5, 300'000),
                             FileType::kPng, Limits{})),
              RejectReason::kCorruptImage);
    // Metadata of a sane size passes.
    absl::StatusOr<ImageHeader> small = Guard(
        testing::PngWithMetadataChunks(chunk, 3, 100'000), FileType::kPng, Limits{});
    EXPECT_TRUE(small.ok()) << small.status();
  }
}

TEST(GuardPngMetadata, RealFilesWithTextAndProfilesPass) {
  for (const char* file : {"pngsuite/ctzn0g04.png", "pngsuite/cthn0g04.png",
                           "pngsuite/ct1n0g04.png", "pngsuite/ccwn2c08.png"}) {
    SCOPED_TRACE(file);
    absl::StatusOr<ImageHeader> h = Guard(ReadFile(CorpusPath(file)), FileType::kPng, {});
    EXPECT_TRUE(h.ok()) << h.status();
  }
}

}  // namespace
}  // namespace docshare
