#include "service/pipeline/sniff.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "service/common/reject.h"
#include "tests/support/files.h"
#include "tests/support/hostile.h"

namespace docshare {
namespace {

using ::docshare::testing::CorpusPath;
using ::docshare::testing::ReadFile;

TEST(SniffTest, AcceptsJpegPngGifByTheirBytes) {
  struct Case {
    const char* file;
    FileType type;
    const char* mime;
  };
  for (const Case& c : {Case{"sharp/320x240.jpg", FileType::kJpeg, "image/jpeg"},
                        Case{"pngsuite/basn2c08.png", FileType::kPng, "image/png"},
                        Case{"sharp/animated-loop-3.gif", FileType::kGif, "image/gif"}}) {
    absl::StatusOr<SniffResult> result = Sniff(ReadFile(CorpusPath(c.file)));
    ASSERT_TRUE(result.ok()) << c.file << ": " << result.status();
    EXPECT_EQ(result->type, c.type) << c.file;
    EXPECT_EQ(result->mime, c.mime) << c.file;
  }
}

TEST(SniffTest, LooksAtTheFirst4096BytesOnly) {
  // A PNG signature followed by 1 MB of text: still a PNG by its head.
  std::string bytes = testing::PngWithDimensions(8, 8) + std::string(1 << 20, 'a');
  absl::StatusOr<SniffResult> result = Sniff(bytes);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->type, FileType::kPng);
}

TEST(SniffTest, EmptyIsEmptyFile) {
  absl::StatusOr<SniffResult> result = Sniff("");
  EXPECT_EQ(GetRejectReason(result.status()), RejectReason::kEmptyFile);
  EXPECT_EQ(GetDetectedMime(result.status()), "application/x-empty");
  EXPECT_EQ(Detect("").mime, "application/x-empty");
  EXPECT_EQ(Detect("").type, FileType::kUnknown);
}

TEST(SniffTest, EverythingElseIsUnsupportedWithTheDetectedMime) {
  const std::string png = testing::PngWithDimensions(4, 4);
  struct Case {
    std::string name;
    std::string bytes;
    std::string mime;
  };
  const std::vector<Case> cases = {
      {"pdf", "%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "application/pdf"},
      {"svg",
       "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
       "width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\"/></svg>\n",
       "image/svg+xml"},
      {"html", "<!DOCTYPE html>\n<html><body>hello</body></html>\n", "text/html"},
      {"zip",
       std::string("PK\x03\x04\x14\x00\x00\x00\x08\x00", 10) + std::string(40, '\0'), ""},
      {"webp", std::string("RIFF\x24\x00\x00\x00WEBPVP8 ", 16) + std::string(40, '\0'),
       "image/webp"},
      {"bmp",
       std::string("BM\x3e\x00\x00\x00\x00\x00\x00\x00\x3e\x00\x00\x00\x28\x00", 16) +
           std::string(46, '\0'),
       ""},
      {"tiff", std::string("II*\x00\x08\x00\x00\x00", 8) + std::string(40, '\0'),
       "image/tiff"},
      {"random", std::string("\x13\x37\xc0\xde\x99\x01\xfe\x42\x77\x00\x81", 11), ""},
      {"bom+png", "\xef\xbb\xbf" + png, "application/octet-stream"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<SniffResult> result = Sniff(c.bytes);
    ASSERT_FALSE(result.ok()) << c.name;
    EXPECT_EQ(GetRejectReason(result.status()), RejectReason::kUnsupportedType) << c.name;
    const std::string mime = GetDetectedMime(result.status());
    EXPECT_FALSE(mime.empty()) << c.name;
    if (!c.mime.empty()) EXPECT_EQ(mime, c.mime) << c.name;
    EXPECT_EQ(std::string(result.status().message()),
              mime + " is not a supported type: share a JPEG, PNG or GIF")
        << c.name;
  }
}

TEST(SniffTest, EachThreadHasItsOwnCookie) {
  const std::string jpeg = testing::SmallJpeg();
  const std::string gif = testing::GifWithFrames(2);
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        if (Detect(t % 2 ? jpeg : gif).type !=
            (t % 2 ? FileType::kJpeg : FileType::kGif)) {
          ++wrong[t];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(wrong, std::vector<int>(4, 0));
}

TEST(SniffTest, TypeFromMimeKnowsAliases) {
  EXPECT_EQ(TypeFromMime("image/jpeg"), FileType::kJpeg);
  EXPECT_EQ(TypeFromMime("image/jpg"), FileType::kJpeg);
  EXPECT_EQ(TypeFromMime("IMAGE/PJPEG"), FileType::kJpeg);
  EXPECT_EQ(TypeFromMime("image/jpeg; charset=x"), FileType::kJpeg);
  EXPECT_EQ(TypeFromMime("image/x-png"), FileType::kPng);
  EXPECT_EQ(TypeFromMime("image/png"), FileType::kPng);
  EXPECT_EQ(TypeFromMime("image/gif"), FileType::kGif);
  EXPECT_EQ(TypeFromMime("image/webp"), FileType::kUnknown);
  EXPECT_EQ(TypeFromMime(""), FileType::kUnknown);
}

TEST(SniffTest, TypeFromFilenameUsesTheExtension) {
  EXPECT_EQ(TypeFromFilename("x.JPEG"), FileType::kJpeg);
  EXPECT_EQ(TypeFromFilename("a/b/photo.jpg"), FileType::kJpeg);
  EXPECT_EQ(TypeFromFilename("scan.jpe"), FileType::kJpeg);
  EXPECT_EQ(TypeFromFilename("scan.jfif"), FileType::kJpeg);
  EXPECT_EQ(TypeFromFilename("x.png"), FileType::kPng);
  EXPECT_EQ(TypeFromFilename("x.Gif"), FileType::kGif);
  EXPECT_EQ(TypeFromFilename("x.pdf"), FileType::kUnknown);
  EXPECT_EQ(TypeFromFilename("jpg"), FileType::kUnknown);
  EXPECT_EQ(TypeFromFilename("dir.png/readme"), FileType::kUnknown);
}

TEST(SniffTest, DeclaredTypeMismatch) {
  EXPECT_FALSE(DeclaredTypeMismatch(FileType::kJpeg, "", ""));
  EXPECT_FALSE(DeclaredTypeMismatch(FileType::kJpeg, "image/jpg", "a.jpeg"));
  EXPECT_FALSE(DeclaredTypeMismatch(FileType::kJpeg, "image/pjpeg", "photo"));
  EXPECT_FALSE(DeclaredTypeMismatch(FileType::kJpeg, "application/octet-stream", ""));
  EXPECT_TRUE(DeclaredTypeMismatch(FileType::kJpeg, "image/png", ""));
  EXPECT_TRUE(DeclaredTypeMismatch(FileType::kJpeg, "application/pdf", ""));
  EXPECT_TRUE(DeclaredTypeMismatch(FileType::kJpeg, "", "a.png"));
  EXPECT_TRUE(DeclaredTypeMismatch(FileType::kJpeg, "", "invoice.pdf"));
  EXPECT_TRUE(DeclaredTypeMismatch(FileType::kGif, "image/gif", "x.jpg"));
  EXPECT_FALSE(DeclaredTypeMismatch(FileType::kPng, "image/x-png", "x.PNG"));
}

}  // namespace
}  // namespace docshare
