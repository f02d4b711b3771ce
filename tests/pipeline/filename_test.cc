// Issue 12 attack 9: names that read differently than they are.
#include "service/pipeline/filename.h"

#include <string>

#include "gtest/gtest.h"
#include "service/pipeline/sniff.h"

namespace docshare {
namespace {

TEST(SanitizeFilename, KeepsTheLastComponentWithoutControls) {
  EXPECT_EQ(SanitizeFilename("../../etc/photo\x01.jpg"), "photo.jpg");
  EXPECT_EQ(SanitizeFilename("C:\\Users\\a\\b.png"), "b.png");
  EXPECT_EQ(SanitizeFilename("caf\xC3\xA9.gif"), "caf\xC3\xA9.gif");
  EXPECT_EQ(SanitizeFilename(""), "document");
  EXPECT_EQ(SanitizeFilename(".."), "document");
}

TEST(SanitizeFilename, RemovesEveryBidiControl) {
  // "invoice<RLO>gpj.exe" shows as "invoiceexe.jpg" in a bidi-aware UI.
  EXPECT_EQ(SanitizeFilename("invoice\xE2\x80\xAEgpj.exe"), "invoicegpj.exe");
  const char* const controls[] = {
      "\xE2\x80\xAA", "\xE2\x80\xAB", "\xE2\x80\xAC", "\xE2\x80\xAD",  // U+202A-D
      "\xE2\x80\xAE",                                                  // U+202E
      "\xE2\x81\xA6", "\xE2\x81\xA7", "\xE2\x81\xA8", "\xE2\x81\xA9",  // U+2066-9
      "\xE2\x80\x8E", "\xE2\x80\x8F",                                  // LRM, RLM
      "\xD8\x9C",                                                      // U+061C
  };
  for (const char* c : controls) {
    SCOPED_TRACE(::testing::PrintToString(std::string(c)));
    EXPECT_EQ(SanitizeFilename(std::string("a") + c + "b.png"), "ab.png");
  }
}

TEST(SanitizeFilename, RemovesZeroWidthSeparatorsAndTheBom) {
  const char* const invisible[] = {
      "\xE2\x80\x8B", "\xE2\x80\x8C", "\xE2\x80\x8D",  // ZWSP, ZWNJ, ZWJ
      "\xE2\x81\xA0",                                  // word joiner
      "\xE2\x80\xA8", "\xE2\x80\xA9",                  // line, paragraph separator
      "\xEF\xBB\xBF",                                  // BOM
  };
  for (const char* c : invisible) {
    SCOPED_TRACE(::testing::PrintToString(std::string(c)));
    EXPECT_EQ(SanitizeFilename(std::string(c) + "x" + c + ".jpg" + c), "x.jpg");
  }
  // Neighbours of the removed ranges stay: they are visible text.
  EXPECT_EQ(SanitizeFilename("a\xE2\x80\x90"
                             "b"),
            "a\xE2\x80\x90"
            "b");  // U+2010
  EXPECT_EQ(SanitizeFilename("a\xE2\x80\xAF"
                             "b"),
            "a\xE2\x80\xAF"
            "b");  // U+202F
  EXPECT_EQ(SanitizeFilename("\xEF\xBB\xBF"), "document");
}

TEST(SanitizeFilename, TruncatesTo255Bytes) {
  const std::string name = std::string(300, 'A') + ".jpg";
  EXPECT_EQ(SanitizeFilename(name), std::string(255, 'A'));
}

// The mismatch flag is computed on what participants see: a long name whose
// raw extension is ".jpg" but whose shown (truncated) name ends in ".pdf".
TEST(SanitizeFilename, MismatchIsJudgedOnTheShownName) {
  const std::string raw = std::string(251, 'B') + ".pdf" + std::string(40, 'C') + ".jpg";
  const std::string shown = SanitizeFilename(raw);
  ASSERT_EQ(shown.size(), 255u);
  EXPECT_TRUE(shown.ends_with("BBB.pdf"));
  EXPECT_FALSE(DeclaredTypeMismatch(FileType::kJpeg, "image/jpeg", raw));
  EXPECT_TRUE(DeclaredTypeMismatch(FileType::kJpeg, "image/jpeg", shown));
}

}  // namespace
}  // namespace docshare
