#include "service/pipeline/webp_still.h"

#include <memory>
#include <string>
#include <vips/vips8>

#include "gtest/gtest.h"
#include "service/pipeline/vips_boundary.h"
#include "tests/pipeline/readback.h"
#include "tests/support/files.h"

namespace docshare {
namespace {

using ::docshare::testing::CorpusPath;
using ::docshare::testing::ReadFile;
using ::docshare::testing::ReadPreview;
using vips::VImage;

class WebpStillTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(InitVips("pipeline_tests").ok()); }

  // A corpus file fitted in a 300 px box, in memory, as the renderer holds
  // its display.
  static VImage Fitted(const std::string& corpus_file) {
    const std::string bytes = ReadFile(CorpusPath(corpus_file));
    return VImage::thumbnail_buffer(
               vips_blob_new(nullptr, bytes.data(), bytes.size()), 300,
               VImage::option()->set("height", 300)->set("size", VIPS_SIZE_DOWN))
        .copy_memory();
  }

  static VImage Decode(const std::string& webp) {
    Preview preview;
    preview.mime_type = "image/webp";
    preview.data = std::make_shared<const std::string>(webp);
    return ReadPreview(preview).image;
  }

  static std::string Webpsave(const VImage& image, int quality, int effort) {
    VipsBlob* blob = image.webpsave_buffer(
        VImage::option()->set("Q", quality)->set("effort", effort)->set("strip", true));
    size_t length = 0;
    const void* data = vips_blob_get(blob, &length);
    std::string bytes(static_cast<const char*>(data), length);
    vips_area_unref(VIPS_AREA(blob));
    return bytes;
  }

  static double MaxDiff(const VImage& a, const VImage& b) {
    return (a.cast(VIPS_FORMAT_INT) - b.cast(VIPS_FORMAT_INT)).abs().max();
  }
};

// The same encoder settings as libvips' webpsave: decoded, both give the
// same pixels (RGB, RGBA, grey, grey with alpha).
TEST_F(WebpStillTest, DecodesToTheSamePixelsAsWebpsave) {
  for (const char* file :
       {"sharp/flowers.jpeg", "sharp/blackbug.png", "sharp/gamma_dalai_lama_gray.jpg",
        "sharp/grey-8bit-alpha.png"}) {
    const VImage image = Fitted(file);
    const VImage ours = Decode(EncodeStillWebp(image, 80, 2));
    const VImage theirs = Decode(Webpsave(image, 80, 2));
    ASSERT_EQ(ours.width(), theirs.width()) << file;
    ASSERT_EQ(ours.height(), theirs.height()) << file;
    ASSERT_EQ(ours.bands(), theirs.bands()) << file;
    EXPECT_EQ(ours.bands(), image.has_alpha() ? 4 : 3) << file;
    EXPECT_EQ(MaxDiff(ours, theirs), 0) << file;
  }
}

// Quality and effort reach libwebp: other settings, other bytes.
TEST_F(WebpStillTest, QualityAndEffortAreHonoured) {
  const VImage image = Fitted("sharp/flowers.jpeg");
  const std::string q80 = EncodeStillWebp(image, 80, 2);
  const std::string q40 = EncodeStillWebp(image, 40, 2);
  const std::string e4 = EncodeStillWebp(image, 80, 4);
  EXPECT_LT(q40.size(), q80.size());
  EXPECT_GT(MaxDiff(Decode(q40), Decode(q80)), 0);
  EXPECT_NE(e4, q80);
  EXPECT_EQ(MaxDiff(Decode(Webpsave(image, 40, 2)), Decode(q40)), 0);
}

// Only image chunks: no EXIF, XMP or ICC profile, whatever the image carries.
TEST_F(WebpStillTest, WritesNoMetadataChunk) {
  for (const char* file : {"sharp/Landscape_9.jpg", "sharp/prophoto.png"}) {
    const VImage image = Fitted(file);
    ASSERT_NE(image.get_typeof("icc-profile-data") + image.get_typeof("exif-data"), 0u)
        << file << " carries no metadata to drop";
    const std::string webp = EncodeStillWebp(image, 80, 2);
    ASSERT_GE(webp.size(), 12u);
    ASSERT_EQ(webp.compare(0, 4, "RIFF"), 0);
    ASSERT_EQ(webp.compare(8, 4, "WEBP"), 0);
    for (size_t at = 12; at + 8 <= webp.size();) {
      const std::string fourcc = webp.substr(at, 4);
      EXPECT_TRUE(fourcc == "VP8 " || fourcc == "VP8L" || fourcc == "VP8X" ||
                  fourcc == "ALPH")
          << file << ": chunk " << fourcc;
      const uint32_t size = uint8_t(webp[at + 4]) | uint8_t(webp[at + 5]) << 8 |
                            uint8_t(webp[at + 6]) << 16 |
                            uint32_t(uint8_t(webp[at + 7])) << 24;
      at += 8 + size + (size & 1);
    }
  }
}

}  // namespace
}  // namespace docshare
