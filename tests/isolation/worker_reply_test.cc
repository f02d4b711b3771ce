// Issue 12 attack 4: the server distrusts what a render worker answers.
#include "service/pipeline/worker_reply.h"

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "service/common/reject.h"
#include "service/pipeline/render_wire.h"
#include "service/pipeline/vips_boundary.h"
#include "tests/support/hostile.h"

namespace docshare {
namespace {

const ImageHeader kHeader{FileType::kJpeg, 40, 30, 1, 1000};

Renditions Rendered(const RenderOptions& options) {
  EXPECT_TRUE(InitVips("isolation_tests").ok());
  absl::StatusOr<Renditions> r =
      VipsRenderer(options).Render(testing::SmallJpeg(40, 30), kHeader);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : Renditions{};
}

bool IsBadReply(const absl::Status& s) {
  return absl::IsDataLoss(s) && absl::StartsWith(s.message(), "bad reply");
}

TEST(WorkerReply, TheFailureTableIsAllAWorkerMaySay) {
  for (RejectReason reason : {RejectReason::kCorruptImage, RejectReason::kTooManyFrames,
                              RejectReason::kDimensionsTooLarge}) {
    absl::Status failure;
    ASSERT_TRUE(
        CheckWorkerFailure(3, reason, "image/jpeg", "broken", kHeader, failure).ok());
    EXPECT_EQ(failure.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(GetRejectReason(failure), reason);
    EXPECT_EQ(GetDetectedMime(failure), "image/jpeg");
    EXPECT_EQ(failure.message(), "broken");
  }
  absl::Status internal;
  ASSERT_TRUE(
      CheckWorkerFailure(13, RejectReason::kNone, "", "out of memory", kHeader, internal)
          .ok());
  EXPECT_EQ(internal.code(), absl::StatusCode::kInternal);

  // Any other code or reason: a worker choosing the caller's status.
  for (auto [code, reason] :
       {std::pair{0, RejectReason::kNone},
        std::pair{16, RejectReason::kNone},  // UNAUTHENTICATED
        std::pair{5, RejectReason::kNone},   // NOT_FOUND
        std::pair{3, RejectReason::kNone}, std::pair{3, RejectReason::kUnsupportedType},
        std::pair{3, RejectReason::kFileTooLarge},
        std::pair{13, RejectReason::kCorruptImage},
        std::pair{9, RejectReason::kCorruptImage}, std::pair{999, RejectReason::kNone}}) {
    SCOPED_TRACE(::testing::Message() << code << " " << static_cast<int>(reason));
    absl::Status failure;
    EXPECT_TRUE(IsBadReply(
        CheckWorkerFailure(code, reason, "image/jpeg", "x", kHeader, failure)));
  }
}

TEST(WorkerReply, AMimeWithCrLfOrOfAnotherTypeIsABadReply) {
  // This MIME went into trailing metadata and aborted the server.
  for (const char* mime : {"image/jpeg\r\nx-injected: 1", "image/png", "text/html",
                           "image/jpe\xC3\xA9", "image/jpeg "}) {
    SCOPED_TRACE(mime);
    absl::Status failure;
    EXPECT_TRUE(IsBadReply(CheckWorkerFailure(3, RejectReason::kCorruptImage, mime,
                                              "broken", kHeader, failure)));
  }
}

TEST(WorkerReply, MessagesArePrintableAndBounded) {
  auto check = [](std::string_view message) {
    absl::Status failure;
    return CheckWorkerFailure(3, RejectReason::kCorruptImage, "", message, kHeader,
                              failure);
  };
  EXPECT_TRUE(check(std::string(kMaxWorkerMessageBytes, 'm')).ok());
  EXPECT_TRUE(IsBadReply(check(std::string(kMaxWorkerMessageBytes + 1, 'm'))));
  EXPECT_TRUE(IsBadReply(check("")));
  EXPECT_TRUE(IsBadReply(check("line\r\nx-injected: 1")));
  EXPECT_TRUE(IsBadReply(check("caf\xC3\xA9")));
  EXPECT_TRUE(IsBadReply(check(std::string("nul\0byte", 8))));
}

TEST(WorkerReply, RealRenditionsOfEveryFormatPass) {
  for (PreviewFormat format : {PreviewFormat::kWebp, PreviewFormat::kJpeg,
                               PreviewFormat::kPng, PreviewFormat::kGif}) {
    SCOPED_TRACE(PreviewMime(format));
    const RenderOptions options{
        .display_size = 32, .thumbnail_size = 16, .format = format};
    const Renditions r = Rendered(options);
    EXPECT_EQ(EncodedSize(*r.display.data, format), (std::pair{32, 24}));
    EXPECT_EQ(EncodedSize(*r.thumbnail.data, format), (std::pair{16, 12}));
    EXPECT_TRUE(CheckWorkerRenditions(r, kHeader, options).ok())
        << CheckWorkerRenditions(r, kHeader, options);
  }
}

TEST(WorkerReply, AnimatedWebpDeclaresItsFrameSize) {
  const std::string gif = testing::GifWithFrames(3, 20, 10);
  const ImageHeader header{FileType::kGif, 20, 10, 3, gif.size()};
  ASSERT_TRUE(InitVips("isolation_tests").ok());
  absl::StatusOr<Renditions> r = VipsRenderer(RenderOptions{}).Render(gif, header);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(CheckWorkerRenditions(*r, header, RenderOptions{}).ok())
      << CheckWorkerRenditions(*r, header, RenderOptions{});
}

TEST(WorkerReply, ForgedPreviewsAreBadReplies) {
  const RenderOptions options{.display_size = 32, .thumbnail_size = 16};
  const Renditions good = Rendered(options);
  auto bad = [&](auto&& change) {
    Renditions r = good;
    change(r);
    return IsBadReply(CheckWorkerRenditions(r, kHeader, options));
  };
  const auto html = std::make_shared<const std::string>("<script>alert(1)</script>");
  EXPECT_TRUE(bad([&](Renditions& r) {  // the attack: text/html to every watcher
    r.display.mime_type = "text/html";
    r.display.data = html;
  }));
  EXPECT_TRUE(bad([&](Renditions& r) { r.display.data = html; }));
  EXPECT_TRUE(bad([&](Renditions& r) { r.thumbnail.mime_type = "image/png"; }));
  EXPECT_TRUE(bad([&](Renditions& r) { r.thumbnail.data = good.display.data; }))
      << "a thumbnail whose bytes declare another size";
  EXPECT_TRUE(bad([&](Renditions& r) { r.display.width = 31; }));
  EXPECT_TRUE(bad([&](Renditions& r) { std::swap(r.display, r.thumbnail); }));
  EXPECT_TRUE(bad([&](Renditions& r) { r.display.data.reset(); }));
  EXPECT_TRUE(bad([&](Renditions& r) { r.width = 400; }));
  EXPECT_TRUE(bad([&](Renditions& r) { r.frame_count = 2; }));
  EXPECT_FALSE(bad([&](Renditions& r) { std::swap(r.width, r.height); }))
      << "EXIF orientation transposes the source";
  // A preview larger than its box is refused too, and one larger than the
  // source (never upscaled).
  const RenderOptions small{.display_size = 20, .thumbnail_size = 16};
  EXPECT_TRUE(IsBadReply(CheckWorkerRenditions(good, kHeader, small)));
  const ImageHeader tiny{FileType::kJpeg, 20, 15, 1, 1000};
  Renditions upscaled = good;
  upscaled.width = 20;
  upscaled.height = 15;
  EXPECT_TRUE(IsBadReply(CheckWorkerRenditions(upscaled, tiny, options)));
}

TEST(WorkerReply, EncodedSizeNeedsTheFormatsMagic) {
  const Renditions webp = Rendered(RenderOptions{});
  EXPECT_EQ(EncodedSize(*webp.display.data, PreviewFormat::kPng), std::nullopt);
  EXPECT_EQ(EncodedSize(*webp.display.data, PreviewFormat::kJpeg), std::nullopt);
  EXPECT_EQ(EncodedSize("RIFF\0\0\0\0WEBP", PreviewFormat::kWebp), std::nullopt);
  EXPECT_EQ(EncodedSize("", PreviewFormat::kGif), std::nullopt);
  EXPECT_EQ(EncodedSize(testing::GifWithDimensions(7, 5), PreviewFormat::kGif),
            (std::pair{7, 5}));
  EXPECT_EQ(EncodedSize(testing::PngWithDimensions(9, 4), PreviewFormat::kPng),
            (std::pair{9, 4}));
}

}  // namespace
}  // namespace docshare
