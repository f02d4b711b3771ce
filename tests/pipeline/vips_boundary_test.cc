#include "service/pipeline/vips_boundary.h"

#include <new>
#include <stdexcept>
#include <string>
#include <vips/vips8>

#include "gtest/gtest.h"
#include "service/common/reject.h"
#include "tests/support/files.h"

namespace docshare {
namespace {

class VipsBoundaryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(InitVips("pipeline_tests").ok()); }
};

TEST_F(VipsBoundaryTest, InitTwiceIsFineAndSetsConcurrencyToOne) {
  EXPECT_TRUE(InitVips("again").ok());
  EXPECT_EQ(vips_concurrency_get(), 1);
  EXPECT_EQ(vips_cache_get_max(), 0);
}

TEST_F(VipsBoundaryTest, OnlyTheThreeLoadersAreAllowed) {
  // A tiny valid SVG and a PPM: libvips has loaders for both, blocked here.
  const std::string svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"></svg>";
  const std::string ppm = "P6\n1 1\n255\n\x01\x02\x03";
  for (const std::string* bytes : {&svg, &ppm}) {
    absl::Status status = CallVips([&] {
      vips::VImage::new_from_buffer(bytes->data(), bytes->size(), "").copy_memory();
      return absl::OkStatus();
    });
    EXPECT_EQ(GetRejectReason(status), RejectReason::kCorruptImage) << *bytes;
  }
  // (vips_foreign_find_load_buffer still names svgload_buffer: in 8.14 a
  // blocked loader's sniffer runs; only the load itself is refused. Hence
  // the renderer never lets libvips guess.)
  const std::string jpeg = testing::ReadFile(testing::CorpusPath("sharp/320x240.jpg"));
  absl::Status status = CallVips([&] {
    VipsBlob* blob = vips_blob_new(nullptr, jpeg.data(), jpeg.size());
    vips::VImage image = vips::VImage::jpegload_buffer(blob).copy_memory();
    vips_area_unref(VIPS_AREA(blob));
    return image.width() == 320 ? absl::OkStatus() : absl::InternalError("size");
  });
  EXPECT_TRUE(status.ok()) << status;
}

TEST_F(VipsBoundaryTest, VErrorIsCorruptImageWithAPublicMessage) {
  absl::Status status = CallVips(
      [] {
        const std::string junk = "\xff\xd8\xff\xe0 not really a jpeg";
        VipsBlob* blob = vips_blob_new(nullptr, junk.data(), junk.size());
        vips::VImage::jpegload_buffer(blob).copy_memory();
        return absl::OkStatus();
      },
      "image/jpeg");
  EXPECT_EQ(GetRejectReason(status), RejectReason::kCorruptImage);
  EXPECT_EQ(GetDetectedMime(status), "image/jpeg");
  EXPECT_EQ(std::string(status.message()), "the image could not be decoded");
}

TEST_F(VipsBoundaryTest, OtherExceptionsAreInternal) {
  absl::Status status = CallVips([]() -> absl::Status { throw std::bad_alloc(); });
  EXPECT_TRUE(absl::IsInternal(status)) << status;
  EXPECT_EQ(GetRejectReason(status), RejectReason::kNone);
  status = CallVips([]() -> absl::Status { throw std::runtime_error("boom"); });
  EXPECT_TRUE(absl::IsInternal(status)) << status;
  status = CallVips([]() -> absl::Status { throw 42; });
  EXPECT_TRUE(absl::IsInternal(status)) << status;
}

TEST_F(VipsBoundaryTest, StatusesPassThrough) {
  EXPECT_TRUE(absl::IsNotFound(CallVips([] { return absl::NotFoundError("x"); })));
  EXPECT_TRUE(CallVips([] { return absl::OkStatus(); }).ok());
}

}  // namespace
}  // namespace docshare
