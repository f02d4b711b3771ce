// What the fuzzers found (tests/fuzz, docs/fuzzing.md) stays fixed: every
// file in testdata/fuzz-regressions/ goes through the real stages and gets a
// verdict, a rendition or a rejection with a reason, never anything else.

#include <string>

#include "gtest/gtest.h"
#include "service/common/reject.h"
#include "service/pipeline/guard.h"
#include "service/pipeline/render.h"
#include "service/pipeline/sniff.h"
#include "service/pipeline/vips_boundary.h"
#include "tests/support/files.h"
#include "tests/support/hostile.h"

namespace docshare {
namespace {

class FuzzRegressionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(InitVips("pipeline_tests").ok()); }

  static absl::StatusOr<Renditions> Run(const std::string& bytes) {
    absl::StatusOr<SniffResult> sniffed = Sniff(bytes);
    if (!sniffed.ok()) return sniffed.status();
    absl::StatusOr<ImageHeader> header = Guard(bytes, sniffed->type, Limits{});
    if (!header.ok()) return header.status();
    return VipsRenderer({}).Render(bytes, *header);
  }
};

TEST_F(FuzzRegressionTest, EveryFoundInputGetsACleanVerdict) {
  int files = 0;
  for (const auto& path :
       testing::ListFiles(testing::TestdataPath("fuzz-regressions"), "")) {
    if (path.extension() == ".md") continue;
    ++files;
    absl::StatusOr<Renditions> r = Run(testing::ReadFile(path));
    if (!r.ok()) {
      EXPECT_NE(GetRejectReason(r.status()), RejectReason::kNone)
          << path.filename() << ": " << r.status();
    }
  }
  EXPECT_GT(files, 0);
}

// render_fuzzer: an iTXt chunk declaring ~1.9 GB in a 716-byte file made
// libpng allocate it. Guard refuses it before libvips sees a byte.
TEST_F(FuzzRegressionTest, PngChunkRunningPastTheEndStopsAtTheGuard) {
  const std::string found = testing::ReadFile(
      testing::TestdataPath("fuzz-regressions/png-itxt-length-past-end.png"));
  absl::StatusOr<ImageHeader> h = Guard(found, FileType::kPng, Limits{});
  EXPECT_EQ(GetRejectReason(h.status()), RejectReason::kCorruptImage) << h.status();

  // The same lie in a generated file: a tEXt header before IEND.
  std::string png = testing::PngWithDimensions(4, 4);
  ASSERT_TRUE(Guard(png, FileType::kPng, Limits{}).ok());
  png.insert(png.size() - 12, std::string("\x7f\xff\xff\xf0tEXt", 8) + "Comment");
  h = Guard(png, FileType::kPng, Limits{});
  EXPECT_EQ(GetRejectReason(h.status()), RejectReason::kCorruptImage) << h.status();
}

TEST_F(FuzzRegressionTest, TruncatedIdatIsStillTheDecodersCall) {
  // IDAT is streamed, not buffered: a cut stream passes the header check and
  // fails in the decoder, as it did before the chunk check.
  const std::string png = testing::ReadFile(testing::CorpusPath("sharp/truncated.png"));
  ASSERT_TRUE(Guard(png, FileType::kPng, Limits{}).ok());
  EXPECT_EQ(GetRejectReason(Run(png).status()), RejectReason::kCorruptImage);
}

}  // namespace
}  // namespace docshare
