// The HTTP listener over real HTTP on loopback (port 0): routes, errors and
// their status codes, CORS, IPv6, reading at most 4 KiB, drain, metrics.
#include "service/http/http_server.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "docshare/v1/docshare.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "service/auth/tokens.h"
#include "service/common/clock.h"
#include "service/http/api.h"
#include "service/metrics/http_metrics.h"
#include "tests/http/http_test_support.h"
#include "tests/metrics/scrape.h"
#include "tests/support/files.h"

namespace docshare {
namespace {

using ::docshare::http_test::Connect;
using ::docshare::http_test::Fetch;
using ::docshare::http_test::ReadUntilClosed;
using ::docshare::http_test::Reply;
using ::docshare::http_test::SendAll;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kAdminToken[] = "http-test-admin-token";
constexpr char kAllowedOrigin[] = "https://app.example";
// libmagic calls this application/pdf.
constexpr char kPdfHead[] =
    "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n";

std::string Jpeg() {
  return ::docshare::testing::ReadFile(
      ::docshare::testing::CorpusPath("sharp/320x240.jpg"));
}

v1::CheckFileResponse ParseCheck(const std::string& json) {
  v1::CheckFileResponse out;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &out).ok()) << json;
  return out;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartOn("127.0.0.1:0"); }

  void StartOn(const std::string& address) {
    server_.reset();
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start({.address = address}, api_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::string Url(const std::string& path_and_query) const {
    return absl::StrCat("http://127.0.0.1:", server_->port(), path_and_query);
  }

  Reply Check(const std::string& body,
              const std::vector<std::string>& headers = {absl::StrCat(
                  "Authorization: Bearer ", kAdminToken)},
              const std::string& query = "?filename=x.jpg") {
    return Fetch("POST", Url("/v1/check" + query), headers, body);
  }

  // The count is taken after the answer's last byte is written, so the
  // client may read the answer first: wait (bounded) for `want`.
  double Requests(const std::string& route, const std::string& code,
                  double want = -1) const {
    const absl::Time bound = absl::Now() + absl::Seconds(30);
    while (true) {
      const double v =
          ::docshare::testing::Value(registry_, "docshare_http_requests_total",
                                     {{"route", route}, {"code", code}})
              .value_or(0);
      if (want < 0 || v == want || absl::Now() > bound) return v;
      std::this_thread::yield();
    }
  }

  FakeClock clock_;
  TokenService tokens_{"http-test-secret", clock_};
  prometheus::Registry registry_;
  HttpMetrics metrics_{registry_};
  // What /v1/check's per-token rate answers (empty: allowed); set by a test.
  std::function<absl::Status(const Caller&)> check_limit_;
  int check_limit_calls_ = 0;
  HttpApi api_{HttpApi::Deps{tokens_,
                             kAdminToken,
                             {kAllowedOrigin},
                             metrics_,
                             nullptr,
                             nullptr,
                             nullptr,
                             nullptr,
                             false,
                             [this](const Caller& caller) {
                               ++check_limit_calls_;
                               return check_limit_ ? check_limit_(caller)
                                                   : absl::OkStatus();
                             }}};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, CheckJudgesAJpegSupported) {
  const Reply reply = Check(Jpeg());
  ASSERT_EQ(reply.status, 200) << reply.error << reply.body;
  EXPECT_EQ(reply.Header("content-type"), "application/json");
  const v1::CheckFileResponse check = ParseCheck(reply.body);
  EXPECT_TRUE(check.supported());
  EXPECT_EQ(check.detected_type(), v1::FILE_TYPE_JPEG);
  EXPECT_EQ(check.detected_mime_type(), "image/jpeg");
  // protobuf's JSON mapping: lowerCamelCase names, enum names.
  EXPECT_THAT(reply.body, HasSubstr(R"("detectedType":"FILE_TYPE_JPEG")"));
}

TEST_F(HttpServerTest, CheckJudgesAPdfUnsupportedWithItsReason) {
  const Reply reply =
      Check(kPdfHead, {absl::StrCat("Authorization: Bearer ", kAdminToken)},
            "?filename=report.jpg");
  ASSERT_EQ(reply.status, 200) << reply.error;
  const v1::CheckFileResponse check = ParseCheck(reply.body);
  EXPECT_FALSE(check.supported());
  EXPECT_EQ(check.reason(), v1::REJECT_REASON_UNSUPPORTED_TYPE);
  EXPECT_EQ(check.detected_mime_type(), "application/pdf");
  EXPECT_THAT(reply.body, HasSubstr(R"("supported":false)"));
}

TEST_F(HttpServerTest, CheckOfNoBytesIsAnEmptyFile) {
  const Reply reply = Check("");
  ASSERT_EQ(reply.status, 200) << reply.error;
  EXPECT_EQ(ParseCheck(reply.body).reason(), v1::REJECT_REASON_EMPTY_FILE);
}

TEST_F(HttpServerTest, ParticipantTokenInTheQueryIsAccepted) {
  const std::string token =
      tokens_.Mint({"s-1", Role::kConsumer, "bm9uY2U", clock_.Now() + absl::Hours(1)});
  const Reply reply = Check(Jpeg(), {}, "?filename=a.jpg&access_token=" + token);
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_TRUE(ParseCheck(reply.body).supported());
}

// Issue 12: POST /v1/check has CheckFile's per-token rate
// (--token-check-file-rate); over it, 429 with Retry-After before the body is
// read, and other tokens are not held back.
TEST_F(HttpServerTest, CheckOverTheTokensRateIs429) {
  const std::string agent =
      tokens_.Mint({"s-1", Role::kAgent, "bm9uY2U", clock_.Now() + absl::Hours(1)});
  const std::string consumer =
      tokens_.Mint({"s-1", Role::kConsumer, "bm9uY2U", clock_.Now() + absl::Hours(1)});
  int agent_calls = 0;
  check_limit_ = [&](const Caller& caller) {
    if (caller.claims.role != Role::kAgent || ++agent_calls <= 2) return absl::OkStatus();
    return absl::ResourceExhaustedError(
        "this token calls CheckFile more than --token-check-file-rate=2 times a second");
  };
  for (int i = 0; i < 2; ++i) {
    const Reply ok = Check(Jpeg(), {"Authorization: Bearer " + agent});
    ASSERT_EQ(ok.status, 200) << i << ok.body;
  }
  const Reply limited = Check(Jpeg(), {"Authorization: Bearer " + agent});
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(limited.Header("retry-after"), "1");
  EXPECT_THAT(limited.body, HasSubstr(R"("code":"RESOURCE_EXHAUSTED")"));
  EXPECT_THAT(limited.body, HasSubstr("--token-check-file-rate"));
  EXPECT_EQ(Check(Jpeg(), {"Authorization: Bearer " + consumer}).status, 200);
  EXPECT_EQ(Requests("check", "429", 1), 1);
  // A request without a valid token is refused before the rate is consulted.
  const int before = check_limit_calls_;
  EXPECT_EQ(Check(Jpeg(), {}).status, 401);
  EXPECT_EQ(check_limit_calls_, before);
}

TEST_F(HttpServerTest, MissingOrForgedTokenIs401) {
  const Reply missing = Check(Jpeg(), {});
  EXPECT_EQ(missing.status, 401);
  EXPECT_THAT(missing.body, HasSubstr(R"("code":"UNAUTHENTICATED")"));
  const Reply forged = Check(Jpeg(), {"Authorization: Bearer v1.Zm9v.YmFy"});
  EXPECT_EQ(forged.status, 401);
  TokenService other("another-secret", clock_);
  const std::string foreign =
      other.Mint({"s-1", Role::kAgent, "bm9uY2U", clock_.Now() + absl::Hours(1)});
  EXPECT_EQ(Check(Jpeg(), {"Authorization: Bearer " + foreign}).status, 401);
  EXPECT_EQ(Requests("check", "401", 3), 3);
}

TEST_F(HttpServerTest, BrokenRequestsAre400) {
  // The token twice (header and query): RFC 6750 says one method per request.
  const Reply twice = Check(Jpeg(), {absl::StrCat("Authorization: Bearer ", kAdminToken)},
                            absl::StrCat("?access_token=", kAdminToken));
  EXPECT_EQ(twice.status, 400);
  EXPECT_THAT(twice.body, HasSubstr(R"("code":"INVALID_ARGUMENT")"));
  EXPECT_THAT(twice.body, Not(HasSubstr(kAdminToken)));
  const Reply encoding = Check(
      Jpeg(), {absl::StrCat("Authorization: Bearer ", kAdminToken)}, "?filename=%zz");
  EXPECT_EQ(encoding.status, 400);
  EXPECT_THAT(encoding.body, HasSubstr("malformed query string"));
  // Not HTTP at all: answered 400, then closed.
  const int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET / HTTP/1.1\r\nBad Header Line\r\n\r\n"));
  EXPECT_THAT(ReadUntilClosed(fd), StartsWith("HTTP/1.1 400"));
  close(fd);
}

TEST_F(HttpServerTest, UnknownPathIs404) {
  const Reply reply = Fetch("GET", Url("/v1/nothing-here?access_token=secret"));
  EXPECT_EQ(reply.status, 404);
  EXPECT_THAT(reply.body, HasSubstr(R"("code":"NOT_FOUND")"));
  EXPECT_EQ(Requests("unknown", "404", 1), 1);
}

TEST_F(HttpServerTest, WrongMethodIs405WithAllow) {
  const Reply get = Fetch("GET", Url("/v1/check"));
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.Header("allow"), "POST, OPTIONS");
  const Reply post = Fetch("POST", Url("/v1/client.js"));
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.Header("allow"), "GET, HEAD, OPTIONS");
}

TEST_F(HttpServerTest, ClientJsIsTheEmbeddedModule) {
  const std::string source = ::docshare::testing::ReadFile(
      std::filesystem::path(DOCSHARE_SOURCE_DIR) / "web" / "docshare.js");
  ASSERT_FALSE(source.empty());
  const Reply get = Fetch("GET", Url("/v1/client.js"));
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.Header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(get.Header("x-content-type-options"), "nosniff");
  EXPECT_EQ(get.body, source);
  const Reply head = Fetch("HEAD", Url("/v1/client.js"));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("content-length"), std::to_string(source.size()));
  EXPECT_TRUE(head.body.empty());
}

TEST_F(HttpServerTest, AllowedOriginIsEchoedOthersAreNot) {
  const std::string auth = absl::StrCat("Authorization: Bearer ", kAdminToken);
  const Reply allowed = Check(Jpeg(), {auth, absl::StrCat("Origin: ", kAllowedOrigin)});
  EXPECT_EQ(allowed.status, 200);
  EXPECT_EQ(allowed.Header("access-control-allow-origin"), kAllowedOrigin);
  EXPECT_EQ(allowed.Header("vary"), "Origin");
  const Reply other = Check(Jpeg(), {auth, "Origin: https://evil.example"});
  EXPECT_EQ(other.status, 200);  // the browser, not the server, withholds it
  EXPECT_FALSE(other.Has("access-control-allow-origin"));
  EXPECT_EQ(other.Header("vary"), "Origin");
}

TEST_F(HttpServerTest, PreflightForAnAllowedOriginAndRefusedForOthers) {
  const std::vector<std::string> asks = {
      "Access-Control-Request-Method: POST",
      "Access-Control-Request-Headers: authorization,content-type"};
  std::vector<std::string> allowed_headers = asks;
  allowed_headers.push_back(absl::StrCat("Origin: ", kAllowedOrigin));
  const Reply allowed = Fetch("OPTIONS", Url("/v1/check"), allowed_headers);
  EXPECT_EQ(allowed.status, 204);
  EXPECT_EQ(allowed.Header("access-control-allow-origin"), kAllowedOrigin);
  EXPECT_THAT(allowed.Header("access-control-allow-methods"), HasSubstr("POST"));
  EXPECT_EQ(allowed.Header("access-control-allow-headers"),
            "Authorization, Content-Type");
  std::vector<std::string> refused_headers = asks;
  refused_headers.push_back("Origin: https://evil.example");
  const Reply refused = Fetch("OPTIONS", Url("/v1/check"), refused_headers);
  EXPECT_EQ(refused.status, 403);
  EXPECT_FALSE(refused.Has("access-control-allow-origin"));
  EXPECT_THAT(refused.body, HasSubstr(R"("code":"PERMISSION_DENIED")"));
  EXPECT_EQ(Requests("preflight", "204", 1), 1);
  EXPECT_EQ(Requests("preflight", "403", 1), 1);
}

// The answer comes after 4 KiB of a body announced as 32 MiB: the server
// does not wait for (or read) the rest, and closes the connection after.
TEST_F(HttpServerTest, CheckReadsAtMostTheFirst4KiB) {
  const int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  std::string body = Jpeg().substr(0, 4096);
  body.resize(8192, 'x');  // more than 4 KiB sent, far less than announced
  ASSERT_TRUE(SendAll(
      fd, absl::StrCat("POST /v1/check HTTP/1.1\r\nHost: t\r\n"
                       "Authorization: Bearer ",
                       kAdminToken, "\r\nContent-Length: 33554432\r\n\r\n", body)));
  const std::string answer = ReadUntilClosed(fd);
  close(fd);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(answer, HasSubstr("Connection: close"));
  EXPECT_THAT(answer, HasSubstr(R"("detectedType":"FILE_TYPE_JPEG")"));
}

TEST_F(HttpServerTest, ExpectContinueIsAnswered) {
  const Reply reply = Check(
      Jpeg() + std::string(64 * 1024, 'x'),
      {absl::StrCat("Authorization: Bearer ", kAdminToken), "Expect: 100-continue"});
  EXPECT_EQ(reply.status, 200) << reply.error;
  EXPECT_TRUE(ParseCheck(reply.body).supported());
}

TEST_F(HttpServerTest, Ipv6Loopback) {
  StartOn("[::1]:0");
  const Reply reply =
      Fetch("GET", absl::StrCat("http://[::1]:", server_->port(), "/v1/client.js"));
  EXPECT_EQ(reply.status, 200) << reply.error;
}

TEST_F(HttpServerTest, WildcardIsDualStack) {
  StartOn("0.0.0.0:0");
  EXPECT_EQ(
      Fetch("GET", absl::StrCat("http://127.0.0.1:", server_->port(), "/v1/client.js"))
          .status,
      200);
  EXPECT_EQ(Fetch("GET", absl::StrCat("http://[::1]:", server_->port(), "/v1/client.js"))
                .status,
            200);
}

TEST_F(HttpServerTest, BadAddressNamesTheOption) {
  for (const char* address :
       {"nonsense", "256.0.0.1:80", "[::1:80", "127.0.0.1:99999", "example.com:80"}) {
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start({.address = address}, api_);
    ASSERT_FALSE(server.ok()) << address;
    EXPECT_THAT(server.status().message(), HasSubstr("--http-address")) << address;
  }
  // A port already taken.
  absl::StatusOr<std::unique_ptr<HttpServer>> taken =
      HttpServer::Start({.address = absl::StrCat("127.0.0.1:", server_->port())}, api_);
  ASSERT_FALSE(taken.ok());
  EXPECT_THAT(taken.status().message(), HasSubstr("cannot listen on --http-address"));
}

// HTTPS from the same PEM files as gRPC (a self-signed pair made with openssl).
TEST_F(HttpServerTest, ServesTlsFromThePemFiles) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / "http-tls";
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string();
  const std::string key = (dir / "key.pem").string();
  ASSERT_EQ(std::system(absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 1 "
                                     "-subj /CN=localhost -keyout ",
                                     key, " -out ", cert, " 2>/dev/null")
                            .c_str()),
            0);
  absl::StatusOr<std::unique_ptr<HttpServer>> tls = HttpServer::Start(
      {.address = "127.0.0.1:0", .tls_cert_file = cert, .tls_key_file = key}, api_);
  ASSERT_TRUE(tls.ok()) << tls.status();
  const Reply reply =
      Fetch("POST", absl::StrCat("https://127.0.0.1:", (*tls)->port(), "/v1/check"),
            {absl::StrCat("Authorization: Bearer ", kAdminToken)}, Jpeg(),
            /*insecure_tls=*/true);
  ASSERT_EQ(reply.status, 200) << reply.error;
  EXPECT_TRUE(ParseCheck(reply.body).supported());
  // Plain HTTP to the TLS port gets no answer.
  EXPECT_NE(
      Fetch("GET", absl::StrCat("http://127.0.0.1:", (*tls)->port(), "/v1/client.js"))
          .status,
      200);
  // A key that is not PEM names its option.
  absl::StatusOr<std::unique_ptr<HttpServer>> bad = HttpServer::Start(
      {.address = "127.0.0.1:0", .tls_cert_file = cert, .tls_key_file = cert}, api_);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("--tls-key"));
}

// SIGTERM's drain: a request in flight finishes, new connections are not
// accepted, and requests on open connections are answered 503.
TEST_F(HttpServerTest, DrainFinishesWhatIsInFlight) {
  const int in_flight = Connect(server_->port());
  const int idle = Connect(server_->port());
  ASSERT_GE(in_flight, 0);
  ASSERT_GE(idle, 0);
  const std::string jpeg = Jpeg().substr(0, 4096);
  ASSERT_TRUE(
      SendAll(in_flight, absl::StrCat("POST /v1/check HTTP/1.1\r\nHost: t\r\n"
                                      "Authorization: Bearer ",
                                      kAdminToken, "\r\nContent-Length: 4096\r\n\r\n",
                                      jpeg.substr(0, 100))));
  // Wait (with a bound) until the server has read the headers.
  const absl::Time bound = absl::Now() + absl::Seconds(30);
  while (server_->in_flight() != 1 && absl::Now() < bound) std::this_thread::yield();
  ASSERT_EQ(server_->in_flight(), 1);

  std::thread drain([&] { server_->Drain(absl::Now() + absl::Seconds(60)); });
  // Draining has begun once the listener refuses connections (it marks itself
  // draining before it closes the listening socket).
  const absl::Time refused_by = absl::Now() + absl::Seconds(30);
  for (int fd = Connect(server_->port()); fd >= 0 && absl::Now() < refused_by;
       fd = Connect(server_->port())) {
    close(fd);
    std::this_thread::yield();
  }
  // An open connection's next request is refused with 503 and Retry-After.
  ASSERT_TRUE(SendAll(idle, "GET /v1/client.js HTTP/1.1\r\nHost: t\r\n\r\n"));
  const std::string refused = ReadUntilClosed(idle);
  EXPECT_THAT(refused, StartsWith("HTTP/1.1 503"));
  EXPECT_THAT(refused, HasSubstr("Retry-After: 1"));
  EXPECT_THAT(refused, HasSubstr("draining"));
  // The request in flight completes.
  ASSERT_TRUE(SendAll(in_flight, jpeg.substr(100)));
  const std::string finished = ReadUntilClosed(in_flight);
  EXPECT_THAT(finished, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(finished, HasSubstr("FILE_TYPE_JPEG"));
  drain.join();
  EXPECT_EQ(server_->in_flight(), 0);
  EXPECT_EQ(Connect(server_->port()), -1) << "still accepting after the drain";
  close(in_flight);
  close(idle);
}

TEST_F(HttpServerTest, MetricsCountRequestsByRouteAndCode) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Check(Jpeg()).status, 200);
  EXPECT_EQ(Fetch("GET", Url("/v1/client.js")).status, 200);
  EXPECT_EQ(Requests("check", "200", 3), 3);
  EXPECT_EQ(Requests("client_js", "200", 1), 1);
  EXPECT_EQ(Requests("check", "401", 0), 0);
  EXPECT_EQ(
      ::docshare::testing::Value(registry_, "docshare_http_request_duration_seconds",
                                 {{"route", "check"}}),
      3);
}

}  // namespace
}  // namespace docshare
