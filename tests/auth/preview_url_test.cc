#include "service/auth/preview_url.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth/tokens.h"
#include "service/common/clock.h"

namespace docshare {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kSecret[] = "preview-secret-0123456789";
constexpr char kNonce[] = "bm9uY2Utbm9uY2U";

// A signed URL split at '?' into the path and the query a server sees.
std::pair<std::string, std::string> Split(const std::string& url) {
  const size_t q = url.find('?');
  return {url.substr(0, q), q == std::string::npos ? "" : url.substr(q + 1)};
}

class PreviewUrlTest : public ::testing::Test {
 protected:
  absl::StatusOr<PreviewRef> Verify(const std::string& url) const {
    auto [path, query] = Split(url);
    return signer_.Verify(path, query);
  }
  std::string SignDefault() const {
    return signer_.Sign("session-1", kNonce, 7, Rendition::kDisplay, session_expiry_);
  }

  FakeClock clock_;
  absl::Time session_expiry_ = clock_.Now() + absl::Hours(2);
  PreviewUrlSigner signer_{kSecret, clock_, absl::Seconds(600), ""};
};

TEST_F(PreviewUrlTest, SignedUrlVerifiesToWhatWasSigned) {
  const std::string url = SignDefault();
  EXPECT_THAT(url, StartsWith("/v1/previews/session-1/bm9uY2Utbm9uY2U/7/display?"));
  absl::StatusOr<PreviewRef> ref = Verify(url);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->session_id, "session-1");
  EXPECT_EQ(ref->nonce, kNonce);
  EXPECT_EQ(ref->sequence, 7);
  EXPECT_EQ(ref->rendition, Rendition::kDisplay);
  EXPECT_EQ(ref->expires_at, clock_.Now() + absl::Seconds(600));
}

TEST_F(PreviewUrlTest, ExpiryIsTheSessionsWhenThatComesFirst) {
  const absl::Time soon = clock_.Now() + absl::Seconds(30);
  absl::StatusOr<PreviewRef> ref =
      Verify(signer_.Sign("session-1", kNonce, 1, Rendition::kThumbnail, soon));
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->expires_at, soon);
}

TEST_F(PreviewUrlTest, PublicUrlMakesItAbsolute) {
  PreviewUrlSigner absolute(kSecret, clock_, absl::Seconds(600),
                            "https://docshare.example.com/");
  const std::string url =
      absolute.Sign("session-1", kNonce, 3, Rendition::kThumbnail, session_expiry_);
  EXPECT_THAT(url, StartsWith("https://docshare.example.com/v1/previews/session-1/"));
  // The server sees the path; the origin is not signed.
  EXPECT_TRUE(
      Verify(url.substr(std::string("https://docshare.example.com").size())).ok());
}

TEST_F(PreviewUrlTest, ExpiredUrlIsRefused) {
  const std::string url = SignDefault();
  clock_.Advance(absl::Seconds(599));
  EXPECT_TRUE(Verify(url).ok());
  clock_.Advance(absl::Seconds(1));
  absl::StatusOr<PreviewRef> ref = Verify(url);
  EXPECT_EQ(ref.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(ref.status().message(), HasSubstr("expired"));
}

TEST_F(PreviewUrlTest, OtherSecretIsForged) {
  PreviewUrlSigner other("another-secret", clock_, absl::Seconds(600), "");
  const std::string url =
      other.Sign("session-1", kNonce, 7, Rendition::kDisplay, session_expiry_);
  EXPECT_EQ(Verify(url).status().code(), absl::StatusCode::kPermissionDenied);
}

// Each signed field, changed in a valid URL, makes it refused.
TEST_F(PreviewUrlTest, ChangingAnySignedFieldIsRefused) {
  const std::string url = SignDefault();
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string changed = url;
    const size_t at = changed.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    changed.replace(at, from.size(), to);
    return changed;
  };
  const std::string expires = absl::StrCat(absl::ToUnixSeconds(clock_.Now()) + 600);
  for (const std::string& forged : {
           replaced("/display?", "/thumbnail?"),                        // rendition
           replaced("/7/", "/8/"),                                      // sequence
           replaced("/bm9uY2Utbm9uY2U/", "/bm9uY2Utbm9uY2V/"),          // nonce
           replaced("/session-1/", "/session-2/"),                      // session
           replaced("expires=" + expires, "expires=" + expires + "0"),  // expiry
       }) {
    absl::StatusOr<PreviewRef> ref = Verify(forged);
    EXPECT_EQ(ref.status().code(), absl::StatusCode::kPermissionDenied) << forged;
    EXPECT_THAT(ref.status().message(), HasSubstr("signature")) << forged;
  }
}

TEST_F(PreviewUrlTest, MalformedUrlsAreRefusedWithoutEchoingThem) {
  const auto [path, query] = Split(SignDefault());
  for (const auto& [p, q] : std::vector<std::pair<std::string, std::string>>{
           {path, ""},
           {path, query + "&signature=AAAA"},   // repeated
           {path, query + "&x=1"},              // unknown parameter
           {path, "expires=12&signature=%%%"},  // not base64url
           {path + "/extra", query},            // too many parts
           {"/v1/previews/session-1/" + std::string(kNonce) + "/0/display", query},
           {"/v1/previews/session-1/" + std::string(kNonce) + "/07/display", query},
           {"/v1/previews/session-1/" + std::string(kNonce) + "/7/original", query},
           {"/v1/previews/sess ion/" + std::string(kNonce) + "/7/display", query},
           {"/v1/other/session-1/" + std::string(kNonce) + "/7/display", query},
       }) {
    absl::StatusOr<PreviewRef> ref = signer_.Verify(p, q);
    EXPECT_EQ(ref.status().code(), absl::StatusCode::kPermissionDenied) << p << "?" << q;
    EXPECT_THAT(ref.status().message(), Not(HasSubstr("session-1"))) << p;
  }
}

TEST_F(PreviewUrlTest, AUrlSignatureIsNotATokenSignature) {
  // The same secret signs tokens: a token's MAC over a URL's fields never
  // verifies as a URL, because each signed text starts with its own label.
  TokenService tokens(kSecret, clock_);
  const std::string token = tokens.SignPayload("session-1|bm9uY2Utbm9uY2U|7|display");
  const std::string mac = token.substr(token.rfind('.') + 1);
  const std::string expires = absl::StrCat(absl::ToUnixSeconds(clock_.Now()) + 600);
  EXPECT_EQ(signer_
                .Verify("/v1/previews/session-1/bm9uY2Utbm9uY2U/7/display",
                        "expires=" + expires + "&signature=" + mac)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace docshare
