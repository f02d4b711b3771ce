// DocumentService over real gRPC: shares, rejections with their trailers,
// broken uploads, permissions, CheckFile.
#include <regex>

#include "tests/integration/harness.h"
#include "tests/support/files.h"
#include "tests/support/hostile.h"

namespace docshare::testing {
namespace {

std::string Photo() { return ReadFile(CorpusPath("sharp/320x240.jpg")); }
std::string Pdf() {
  std::string pdf = "%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n";
  pdf.resize(300 * 1024, ' ');  // far more than one chunk
  return pdf;
}

class Shares : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    session_ = StartSession("share-session", 0, /*consumer_may_share=*/false);
  }
  void ExpectReject(const ShareResult& r, const std::string& reason,
                    const std::string& mime) {
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << r.status.error_message();
    EXPECT_FALSE(r.status.error_message().empty());
    EXPECT_EQ(r.trailer("docshare-reject-reason"), reason);
    EXPECT_EQ(r.trailer("docshare-detected-mime"), mime);
    const google::rpc::ErrorInfo info = ErrorInfoOf(r.status);
    EXPECT_EQ(info.reason(), reason);
    ASSERT_EQ(info.metadata().count("detected_mime_type"), 1u);
    EXPECT_EQ(info.metadata().at("detected_mime_type"), mime);
  }
  const std::string& agent() const { return session_.agent_token(); }
  v1::StartSessionResponse session_;
};

TEST_F(Shares, AJpegBecomesTwoPreviews) {
  ShareResult r =
      Share(agent(), "share-session", Photo(),
            {.filename = "../../etc/photo\x01.jpg", .declared_mime = "image/jpeg"});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  const v1::Document& d = r.response.document();
  // Safe as a file name and as a command-line argument: never starts with '-'.
  EXPECT_TRUE(std::regex_match(d.document_id(), std::regex("doc_[A-Za-z0-9_-]{16}")))
      << d.document_id();
  EXPECT_EQ(d.session_id(), "share-session");
  EXPECT_EQ(d.filename(), "photo.jpg");
  EXPECT_EQ(d.source_type(), v1::FILE_TYPE_JPEG);
  EXPECT_EQ(d.source_mime_type(), "image/jpeg");
  EXPECT_EQ(d.source_width(), 320u);
  EXPECT_EQ(d.source_height(), 240u);
  EXPECT_EQ(d.frame_count(), 1u);
  EXPECT_EQ(d.source_bytes(), Photo().size());
  EXPECT_EQ(d.shared_by(), v1::ROLE_AGENT);
  EXPECT_FALSE(d.declared_type_mismatch());
  EXPECT_GT(d.shared_at().seconds(), 0);
  ASSERT_EQ(d.previews_size(), 2);
  for (const v1::Preview& p : d.previews()) {
    EXPECT_EQ(p.mime_type(), "image/webp");
    EXPECT_TRUE(p.data().empty()) << "the response carries no preview bytes";
  }
  EXPECT_EQ(d.previews(0).rendition(), v1::RENDITION_THUMBNAIL);
  EXPECT_EQ(d.previews(0).width(), 256u);
  EXPECT_EQ(d.previews(0).height(), 192u);
  EXPECT_EQ(d.previews(1).rendition(), v1::RENDITION_DISPLAY);
  EXPECT_EQ(d.previews(1).width(), 320u) << "never upscaled";
  EXPECT_EQ(d.previews(1).height(), 240u);
}

TEST_F(Shares, UnknownSizeAndOneByteChunksWork) {
  std::string gif = ReadFile(CorpusPath("sharp/animated-loop-3.gif"));
  ShareResult r =
      Share(agent(), "share-session", gif,
            {.filename = "anim.gif", .unknown_size = true, .chunk_bytes = 1000});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.document().source_type(), v1::FILE_TYPE_GIF);
  EXPECT_GT(r.response.document().frame_count(), 1u);
}

TEST_F(Shares, DeclaredTypeMismatchIsReported) {
  ShareResult r = Share(agent(), "share-session", Photo(),
                        {.filename = "pretend.png", .declared_mime = "image/png"});
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(r.response.document().declared_type_mismatch());
  ShareResult alias = Share(agent(), "share-session", Photo(),
                            {.filename = "x.JPEG", .declared_mime = "image/pjpeg"});
  ASSERT_TRUE(alias.status.ok());
  EXPECT_FALSE(alias.response.document().declared_type_mismatch());
}

TEST_F(Shares, APdfIsRejectedAfterTheFirstChunk) {
  // Only the header and one 4 KiB chunk are sent; the verdict comes without
  // the rest of the file.
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + agent());
  v1::ShareDocumentResponse resp;
  auto writer = documents_->ShareDocument(&ctx, &resp);
  v1::ShareDocumentRequest msg;
  msg.mutable_header()->set_session_id("share-session");
  msg.mutable_header()->set_filename("report.jpg");
  msg.mutable_header()->set_size_bytes(Pdf().size());
  ASSERT_TRUE(writer->Write(msg));
  msg.set_chunk(Pdf().substr(0, 4096));
  writer->Write(msg);
  grpc::Status status = writer->Finish();  // returns although the upload is unfinished
  ShareResult r{status, resp, Trailers(ctx)};
  ExpectReject(r, "REJECT_REASON_UNSUPPORTED_TYPE", "application/pdf");
}

TEST_F(Shares, EveryRejectReasonReachesTheClient) {
  ExpectReject(Share(agent(), "share-session", Pdf()), "REJECT_REASON_UNSUPPORTED_TYPE",
               "application/pdf");
  ExpectReject(
      Share(agent(), "share-session", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
      "REJECT_REASON_UNSUPPORTED_TYPE", "image/svg+xml");
  ExpectReject(Share(agent(), "share-session", ""), "REJECT_REASON_EMPTY_FILE",
               "application/x-empty");
  ExpectReject(Share(agent(), "share-session", PngWithDimensions(60000, 60000)),
               "REJECT_REASON_DIMENSIONS_TOO_LARGE", "image/png");
  ExpectReject(Share(agent(), "share-session", GifWithDimensions(65535, 65535)),
               "REJECT_REASON_DIMENSIONS_TOO_LARGE", "image/gif");
  ExpectReject(Share(agent(), "share-session", GifWithFrames(400)),
               "REJECT_REASON_TOO_MANY_FRAMES", "image/gif");
  ExpectReject(Share(agent(), "share-session", JpegScanBomb(150)),
               "REJECT_REASON_CORRUPT_IMAGE", "image/jpeg");
  ExpectReject(
      Share(agent(), "share-session", ReadFile(CorpusPath("sharp/truncated.jpg"))),
      "REJECT_REASON_CORRUPT_IMAGE", "image/jpeg");
  ExpectReject(
      Share(agent(), "share-session", ReadFile(CorpusPath("sharp/truncated.png"))),
      "REJECT_REASON_CORRUPT_IMAGE", "image/png");
  ExpectReject(
      Share(agent(), "share-session", ReadFile(CorpusPath("sharp/giant-image.jpg"))),
      "REJECT_REASON_DIMENSIONS_TOO_LARGE", "image/jpeg");
  // The service is still healthy afterwards.
  EXPECT_TRUE(Share(agent(), "share-session", Photo()).status.ok());
}

class SmallLimits : public Shares {
 protected:
  void Configure(Config& config) override { config.limits.max_file_bytes = 10000; }
};

TEST_F(SmallLimits, ADeclaredSizeOverTheLimitIsRejectedBeforeAnyByte) {
  ShareResult r = Share(agent(), "share-session", "", {.size_bytes = 10001});
  ExpectReject(r, "REJECT_REASON_FILE_TOO_LARGE", "");
}

TEST_F(SmallLimits, BytesOverTheLimitAreRejectedAsTheyArrive) {
  std::string big = Photo();
  ASSERT_GT(big.size(), 10000u);
  ShareResult r =
      Share(agent(), "share-session", big, {.unknown_size = true, .chunk_bytes = 4096});
  ExpectReject(r, "REJECT_REASON_FILE_TOO_LARGE", "image/jpeg");
}

TEST_F(SmallLimits, ABigFirstChunkIsJudgedWithItsType) {
  // The first chunk alone is over the limit: the verdict still names the type.
  ShareResult r = Share(agent(), "share-session", Photo(),
                        {.unknown_size = true, .chunk_bytes = 1 << 20});
  ExpectReject(r, "REJECT_REASON_FILE_TOO_LARGE", "image/jpeg");
  // ... unless the type is refused first: cheapest check first.
  ShareResult pdf = Share(agent(), "share-session", Pdf(),
                          {.unknown_size = true, .chunk_bytes = 1 << 20});
  ExpectReject(pdf, "REJECT_REASON_UNSUPPORTED_TYPE", "application/pdf");
}

TEST_F(Shares, ABrokenUploadIsInvalidArgumentWithoutAReason) {
  ShareResult fewer = Share(agent(), "share-session", Photo(), {.size_bytes = 999999});
  EXPECT_EQ(fewer.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(fewer.trailer("docshare-reject-reason"), "<absent>");
  ShareResult more = Share(agent(), "share-session", Photo(), {.size_bytes = 100});
  EXPECT_EQ(more.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(more.trailer("docshare-reject-reason"), "<absent>");
  ShareResult no_header =
      Share(agent(), "share-session", Photo(), {.send_header = false});
  EXPECT_EQ(no_header.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(no_header.trailer("docshare-reject-reason"), "<absent>");
}

TEST_F(Shares, WhoMayShare) {
  EXPECT_EQ(Share("", "share-session", Photo()).status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Share(agent() + "x", "share-session", Photo()).status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Share(kAdminToken, "share-session", Photo()).status.error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(
      Share(session_.consumer_token(), "share-session", Photo()).status.error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  StartSession("other");
  EXPECT_EQ(Share(agent(), "other", Photo()).status.error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  v1::StartSessionResponse open = StartSession("consumers-too", 0, true);
  ShareResult r = Share(open.consumer_token(), "consumers-too", Photo());
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.document().shared_by(), v1::ROLE_CONSUMER);
}

TEST_F(Shares, IdenticalBytesReuseThePreviews) {
  ShareResult a = Share(agent(), "share-session", Photo());
  ShareResult b = Share(agent(), "share-session", Photo());
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  EXPECT_NE(a.response.document().document_id(), b.response.document().document_id());
  std::vector<v1::SessionEvent> events = ReadEvents(agent(), "share-session", 0, 2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].document_shared().document().previews(1).data(),
            events[1].document_shared().document().previews(1).data());
}

TEST_F(Shares, CheckFileJudgesTheHeadOnly) {
  v1::CheckFileResponse r;
  ASSERT_TRUE(Check(agent(), Photo().substr(0, 100), &r).ok());
  EXPECT_TRUE(r.supported());
  EXPECT_EQ(r.detected_type(), v1::FILE_TYPE_JPEG);
  EXPECT_EQ(r.detected_mime_type(), "image/jpeg");
  EXPECT_EQ(r.reason(), v1::REJECT_REASON_UNSPECIFIED);

  v1::CheckFileResponse bomb;  // limits are the share's business
  ASSERT_TRUE(Check(kAdminToken, PngWithDimensions(60000, 60000), &bomb).ok());
  EXPECT_TRUE(bomb.supported());
  EXPECT_EQ(bomb.detected_type(), v1::FILE_TYPE_PNG);

  v1::CheckFileResponse pdf;
  ASSERT_TRUE(Check(session_.consumer_token(), Pdf(), &pdf).ok());  // longer than 4096
  EXPECT_FALSE(pdf.supported());
  EXPECT_EQ(pdf.detected_mime_type(), "application/pdf");
  EXPECT_EQ(pdf.reason(), v1::REJECT_REASON_UNSUPPORTED_TYPE);
  EXPECT_FALSE(pdf.message().empty());

  v1::CheckFileResponse empty;
  ASSERT_TRUE(Check(agent(), "", &empty).ok());
  EXPECT_FALSE(empty.supported());
  EXPECT_EQ(empty.reason(), v1::REJECT_REASON_EMPTY_FILE);

  v1::CheckFileResponse ignored;
  EXPECT_EQ(Check("", "GIF89a", &ignored).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Check("nope", "GIF89a", &ignored).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace docshare::testing

namespace docshare::testing {
namespace {

class Caps : public ServerTest {
 protected:
  void Configure(Config& config) override {
    config.session_caps.max_documents = 2;
    config.session_caps.max_retained_bytes = 60 * 1024;
  }
};

TEST_F(Caps, SessionAndGlobalCapsHaveClearErrors) {
  const std::string photo = ReadFile(CorpusPath("sharp/320x240.jpg"));
  v1::StartSessionResponse a = StartSession("capped");
  ASSERT_TRUE(Share(a.agent_token(), "capped", SmallJpeg()).status.ok());
  ASSERT_TRUE(Share(a.agent_token(), "capped", SmallJpeg(20, 20)).status.ok());
  ShareResult third = Share(a.agent_token(), "capped", SmallJpeg(30, 30));
  EXPECT_EQ(third.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(third.status.error_message().find("2 documents"), std::string::npos)
      << third.status.error_message();

  // The global cap: previews of every session together.
  grpc::Status global;
  for (int i = 0; i < 40 && global.ok(); ++i) {
    v1::StartSessionResponse s = StartSession("fill-" + std::to_string(i));
    global = Share(s.agent_token(), "fill-" + std::to_string(i), photo).status;
  }
  EXPECT_EQ(global.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << global.error_message();
  // Ending a session frees its share of the cap.
  ASSERT_TRUE(EndSession(kAdminToken, "fill-0").ok());
  v1::StartSessionResponse again = StartSession("after-end");
  EXPECT_TRUE(Share(again.agent_token(), "after-end", SmallJpeg()).status.ok());
}

}  // namespace
}  // namespace docshare::testing

namespace docshare::testing {
namespace {

// Tiny files over the wire: every prefix of each signature, and one byte.
TEST_F(Shares, TinyFilesGetAVerdictAndLeaveTheServiceHealthy) {
  const std::string jpeg = ReadFile(CorpusPath("sharp/320x240.jpg"));
  const std::string png = ReadFile(CorpusPath("pngsuite/basn2c08.png"));
  const std::string gif = ReadFile(CorpusPath("sharp/animated-loop-3.gif"));
  for (const std::string* file : {&jpeg, &png, &gif}) {
    for (size_t n = 1; n <= 40; ++n) {
      ShareResult r = Share(agent(), "share-session", file->substr(0, n));
      EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << n;
      const std::string reason = r.trailer("docshare-reject-reason");
      EXPECT_TRUE(reason == "REJECT_REASON_UNSUPPORTED_TYPE" ||
                  reason == "REJECT_REASON_CORRUPT_IMAGE")
          << n << ": " << reason;
      EXPECT_NE(r.trailer("docshare-detected-mime"), "<absent>");
    }
  }
  ExpectReject(Share(agent(), "share-session", std::string(1, '\0')),
               "REJECT_REASON_UNSUPPORTED_TYPE", "application/octet-stream");
  EXPECT_TRUE(Share(agent(), "share-session", jpeg).status.ok());
}

}  // namespace
}  // namespace docshare::testing
