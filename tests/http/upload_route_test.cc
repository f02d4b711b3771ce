// POST /v1/sessions/{id}/documents over real HTTP on loopback, through the
// real pipeline (libmagic, libvips on corpus files) into the memory store:
// 201 with the Document, and each refusal with its status code.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "docshare/v1/docshare.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "service/auth/preview_url.h"
#include "service/auth/tokens.h"
#include "service/common/clock.h"
#include "service/common/observer.h"
#include "service/http/api.h"
#include "service/http/http_server.h"
#include "service/metrics/http_metrics.h"
#include "service/pipeline/pipeline.h"
#include "service/pipeline/vips_boundary.h"
#include "service/sessions/memory_store.h"
#include "tests/http/http_test_support.h"
#include "tests/support/files.h"
#include "tests/support/sessions.h"

namespace docshare {
namespace {

using ::docshare::http_test::Connect;
using ::docshare::http_test::Fetch;
using ::docshare::http_test::ReadUntil;
using ::docshare::http_test::Reply;
using ::docshare::http_test::SendAll;
using ::testing::HasSubstr;

constexpr char kAdminToken[] = "upload-route-admin-token-0123456789ab";
constexpr char kSecret[] = "upload-route-secret-0123456789abcdefgh";

std::string Corpus(const std::string& name) {
  return testing::ReadFile(testing::CorpusPath(name));
}

class UploadRouteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(InitVips("http_tests").ok()); }

  void SetUp() override { Serve(nullptr); }

  void Serve(std::function<absl::Status(const Caller&)> allow_share) {
    server_.reset();
    api_.reset();
    uploads_ = std::make_unique<UploadRoute>(
        UploadRoute::Deps{.pipeline = pipeline_,
                          .backplane = backplane_,
                          .observer = metrics_,
                          .signer = &signer_,
                          .allow_share = std::move(allow_share)});
    api_ = std::make_unique<HttpApi>(HttpApi::Deps{.tokens = tokens_,
                                                   .admin_token = kAdminToken,
                                                   .cors_origins = {},
                                                   .observer = metrics_,
                                                   .uploads = uploads_.get()});
    absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
        {.address = "127.0.0.1:0", .idle_timeout = upload_timeout_}, *api_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    absl::StatusOr<SessionInfo> info = backplane_.Start({"s1", absl::Hours(2), false});
    ASSERT_TRUE(info.ok() || absl::IsAlreadyExists(info.status()));
    if (info.ok()) session_ = *info;
  }

  void TearDown() override {
    server_.reset();
    api_.reset();
  }

  std::string Token(Role role) {
    return tokens_.Mint({session_.id, role, session_.nonce, session_.expires_at});
  }

  Reply Upload(const std::string& bytes, const std::string& mime,
               const std::string& token, const std::string& session = "s1") {
    return Fetch("POST",
                 absl::StrCat("http://127.0.0.1:", server_->port(), "/v1/sessions/",
                              session, "/documents?filename=photo.jpg"),
                 {"Authorization: Bearer " + token, "Content-Type: " + mime}, bytes);
  }

  absl::Duration upload_timeout_ = absl::Seconds(60);  // the App's --upload-timeout
  FakeClock clock_;
  Observer observer_;
  TokenService tokens_{kSecret, clock_};
  PreviewUrlSigner signer_{kSecret, clock_, absl::Seconds(600), ""};
  prometheus::Registry registry_;
  HttpMetrics metrics_{registry_};
  MemoryStore backplane_{clock_, SessionCaps{}, observer_};
  VipsRenderer renderer_{RenderOptions{}};
  RenderPool pool_{2, 16, observer_};
  PreviewCache cache_{64 << 20};
  Pipeline pipeline_{
      Pipeline::Deps{backplane_, renderer_, pool_, cache_, observer_, clock_}, Limits{},
      1 << 20};
  SessionInfo session_;
  std::unique_ptr<UploadRoute> uploads_;
  std::unique_ptr<HttpApi> api_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(UploadRouteTest, JpegIs201WithTheDocumentAndLandsInTheLog) {
  const std::string jpeg = Corpus("sharp/320x240.jpg");
  Reply reply = Upload(jpeg, "image/jpeg", Token(Role::kAgent));
  ASSERT_EQ(reply.status, 201) << reply.body << reply.error;
  v1::Document document;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(reply.body, &document).ok())
      << reply.body;
  EXPECT_EQ(document.source_type(), v1::FILE_TYPE_JPEG);
  EXPECT_EQ(document.source_width(), 320);
  EXPECT_EQ(document.source_bytes(), jpeg.size());
  EXPECT_EQ(document.shared_by(), v1::ROLE_AGENT);
  ASSERT_EQ(document.previews_size(), 2);
  EXPECT_TRUE(document.previews(0).data().empty());
  EXPECT_EQ(document.previews(0).sha256().size(), 64u);
  absl::StatusOr<std::shared_ptr<const Document>> logged =
      backplane_.ReadDocument("s1", session_.nonce, 1);
  ASSERT_TRUE(logged.ok()) << logged.status();
  EXPECT_EQ((*logged)->document_id, document.document_id());
  // Each preview's signed URL names this start of the session and the
  // DocumentShared's sequence (1), so the page can show what it shared.
  for (const v1::Preview& preview : document.previews()) {
    const std::string& url = preview.url();
    const size_t q = url.find('?');
    ASSERT_NE(q, std::string::npos) << url;
    absl::StatusOr<PreviewRef> ref = signer_.Verify(url.substr(0, q), url.substr(q + 1));
    ASSERT_TRUE(ref.ok()) << ref.status() << " " << url;
    EXPECT_EQ(ref->session_id, "s1");
    EXPECT_EQ(ref->nonce, session_.nonce);
    EXPECT_EQ(ref->sequence, 1);
    EXPECT_EQ(ref->rendition, preview.rendition() == v1::RENDITION_DISPLAY
                                  ? Rendition::kDisplay
                                  : Rendition::kThumbnail);
  }
}

TEST_F(UploadRouteTest, PdfIs415AfterItsHeadWithoutReadingTheRest) {
  // Announces 1,000,000 bytes (under the 1 MiB limit here) and sends 4 KiB:
  // the verdict comes without the rest.
  std::string head = "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n";
  head.resize(4096, ' ');
  const int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  SendAll(fd, absl::StrCat("POST /v1/sessions/s1/documents?filename=a.pdf HTTP/1.1\r\n"
                           "Host: x\r\nAuthorization: Bearer ",
                           Token(Role::kAgent),
                           "\r\nContent-Type: application/pdf\r\n"
                           "Content-Length: 1000000\r\n\r\n",
                           head));
  std::string got;
  ASSERT_TRUE(ReadUntil(fd, "\"detectedMimeType\"", &got)) << got;
  ASSERT_TRUE(ReadUntil(fd, "}", &got)) << got;
  close(fd);
  EXPECT_THAT(got, HasSubstr("HTTP/1.1 415"));
  EXPECT_THAT(got, HasSubstr("REJECT_REASON_UNSUPPORTED_TYPE"));
  EXPECT_THAT(got, HasSubstr("application/pdf"));
}

// --upload-timeout bounds the whole upload, as it does a gRPC share: a client
// sending a little every 200 ms (each gap far under the timeout) is cut off,
// and nothing lands in the log.
TEST_F(UploadRouteTest, AnUploadTricklingPastTheUploadTimeoutIsCutOffAndLandsNothing) {
  upload_timeout_ = absl::Seconds(2);
  Serve(nullptr);
  const std::string jpeg = Corpus("sharp/320x240.jpg");
  const int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  SendAll(fd, absl::StrCat("POST /v1/sessions/s1/documents?filename=a.jpg HTTP/1.1\r\n"
                           "Host: x\r\nAuthorization: Bearer ",
                           Token(Role::kAgent),
                           "\r\nContent-Type: image/jpeg\r\nContent-Length: ",
                           jpeg.size(), "\r\n\r\n", jpeg.substr(0, 4096)));
  size_t sent = 4096;
  bool closed = false;
  while (sent < jpeg.size() && !closed) {
    usleep(200'000);  // the client's pace, not a wait for the server
    char byte;
    const ssize_t peeked = recv(fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
    if (peeked == 0 || (peeked < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      closed = true;
      break;
    }
    const size_t n = std::min<size_t>(256, jpeg.size() - sent);
    if (send(fd, jpeg.data() + sent, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) {
      closed = true;
      break;
    }
    sent += n;
  }
  close(fd);
  EXPECT_TRUE(closed) << "the server read all " << sent << " bytes";
  EXPECT_LT(sent, jpeg.size());
  testing::Recorder recorder;
  absl::StatusOr<SessionStore::Subscribed> log = backplane_.Subscribe("s1", 0, &recorder);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(log->replay.empty()) << "a cut-off upload landed in the log";
}

TEST_F(UploadRouteTest, RefusalsHaveTheirStatusCodes) {
  const std::string jpeg = Corpus("sharp/320x240.jpg");
  // Past --max-file-bytes (1 MiB here), decided from Content-Length.
  EXPECT_EQ(Upload(std::string(2 << 20, 'x'), "image/jpeg", Token(Role::kAgent)).status,
            413);
  // Truncated: the decoder refuses it.
  Reply corrupt =
      Upload(jpeg.substr(0, jpeg.size() / 2), "image/jpeg", Token(Role::kAgent));
  EXPECT_EQ(corrupt.status, 422) << corrupt.body;
  EXPECT_THAT(corrupt.body, HasSubstr("REJECT_REASON_CORRUPT_IMAGE"));
  Reply empty = Upload("", "image/jpeg", Token(Role::kAgent));
  EXPECT_EQ(empty.status, 422) << empty.body;
  EXPECT_THAT(empty.body, HasSubstr("REJECT_REASON_EMPTY_FILE"));
  EXPECT_EQ(Upload(jpeg, "image/jpeg", "forged").status, 401);
  // The session does not let consumers share; the admin never shares.
  EXPECT_EQ(Upload(jpeg, "image/jpeg", Token(Role::kConsumer)).status, 403);
  EXPECT_EQ(Upload(jpeg, "image/jpeg", kAdminToken).status, 403);
  ASSERT_TRUE(backplane_.End("s1", "ended").ok());
  EXPECT_EQ(Upload(jpeg, "image/jpeg", Token(Role::kAgent)).status, 409);
}

TEST_F(UploadRouteTest, ShareRateIs429) {
  Serve([](const Caller&) {
    return absl::ResourceExhaustedError("this token shares faster than 2 per second");
  });
  Reply reply = Upload(Corpus("sharp/320x240.jpg"), "image/jpeg", Token(Role::kAgent));
  EXPECT_EQ(reply.status, 429);
  EXPECT_EQ(reply.Header("retry-after"), "1");
}

}  // namespace
}  // namespace docshare
