#include "service/auth/tokens.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/clock.h"

namespace docshare {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "test-secret-0123456789";

class TokensTest : public ::testing::Test {
 protected:
  Claims SomeClaims(absl::Duration ttl = absl::Hours(1)) const {
    return Claims{"session-1.A_b", Role::kConsumer, "bm9uY2Utbm9uY2U",
                  clock_.Now() + ttl};
  }

  FakeClock clock_;
  TokenService tokens_{kSecret, clock_};
};

void ExpectUnauthenticated(const absl::StatusOr<Claims>& result,
                           const std::string& token) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
  if (token.size() >= 8) {
    EXPECT_THAT(std::string(result.status().message()), Not(HasSubstr(token)));
  }
}

TEST_F(TokensTest, RoundTrip) {
  const Claims claims = SomeClaims();
  const std::string token = tokens_.Mint(claims);
  EXPECT_TRUE(token.starts_with("v1."));
  absl::StatusOr<Claims> verified = tokens_.Verify(token);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->session_id, claims.session_id);
  EXPECT_EQ(verified->role, Role::kConsumer);
  EXPECT_EQ(verified->nonce, claims.nonce);
  EXPECT_EQ(verified->expires_at, claims.expires_at);
}

TEST_F(TokensTest, TokenIsUrlSafeWithoutPadding) {
  const std::string token = tokens_.Mint(SomeClaims());
  for (char c : token) {
    EXPECT_TRUE(absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.') << c;
  }
  EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2);
}

TEST_F(TokensTest, AgentRoleRoundTrips) {
  Claims claims = SomeClaims();
  claims.role = Role::kAgent;
  absl::StatusOr<Claims> verified = tokens_.Verify(tokens_.Mint(claims));
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->role, Role::kAgent);
}

TEST_F(TokensTest, ForgedMacIsRefused) {
  std::string token = tokens_.Mint(SomeClaims());
  // Flip a bit in the MAC's first character (not the last: its low bits
  // may be padding bits, which the strict decoder refuses on its own).
  const size_t mac_start = token.rfind('.') + 1;
  token[mac_start] = token[mac_start] == 'A' ? 'B' : 'A';
  absl::StatusOr<Claims> result = tokens_.Verify(token);
  ExpectUnauthenticated(result, token);
  EXPECT_EQ(result.status().message(), "invalid token signature");
}

TEST_F(TokensTest, TamperedPayloadIsRefused) {
  const std::string original = tokens_.Mint(SomeClaims());
  // Re-sign nothing: swap the payload for one naming another session.
  Claims other = SomeClaims();
  other.session_id = "someone-else";
  const std::string forged_source = tokens_.Mint(other);
  const std::string token = forged_source.substr(0, forged_source.rfind('.')) +
                            original.substr(original.rfind('.'));
  absl::StatusOr<Claims> result = tokens_.Verify(token);
  ExpectUnauthenticated(result, token);
  EXPECT_EQ(result.status().message(), "invalid token signature");
}

TEST_F(TokensTest, RoleUpgradeByEditingPayloadIsRefused) {
  std::string token = tokens_.Mint(SomeClaims());
  // Change one payload character: the MAC no longer matches.
  token[5] = token[5] == 'x' ? 'y' : 'x';
  ExpectUnauthenticated(tokens_.Verify(token), token);
}

TEST_F(TokensTest, OtherSecretIsRefused) {
  TokenService other("another-secret", clock_);
  const std::string token = other.Mint(SomeClaims());
  ExpectUnauthenticated(tokens_.Verify(token), token);
  EXPECT_TRUE(other.Verify(token).ok());
}

// Issue 12, attack 8: rotation without logging everyone out.
TEST_F(TokensTest, RotatedSecretsStillVerifyOldTokensAndSignWithTheNewOne) {
  const std::string old_token = tokens_.Mint(SomeClaims());
  TokenService rotated(
      std::vector<std::string>{"the-new-secret-0123456789abcdef0123", kSecret}, clock_);
  ASSERT_TRUE(rotated.Verify(old_token).ok()) << "signed with the previous secret";
  const std::string new_token = rotated.Mint(SomeClaims());
  EXPECT_NE(new_token, old_token) << "signed with the current secret";
  EXPECT_TRUE(rotated.Verify(new_token).ok());
  ExpectUnauthenticated(tokens_.Verify(new_token), new_token);  // not yet rotated
  TokenService retired(std::vector<std::string>{"the-new-secret-0123456789abcdef0123"},
                       clock_);
  ExpectUnauthenticated(retired.Verify(old_token), old_token);  // previous one dropped
  EXPECT_TRUE(retired.Verify(new_token).ok());
}

TEST_F(TokensTest, ExpiredAtTheExactSecond) {
  const std::string token = tokens_.Mint(SomeClaims(absl::Seconds(60)));
  clock_.Advance(absl::Seconds(59));
  EXPECT_TRUE(tokens_.Verify(token).ok());
  clock_.Advance(absl::Seconds(1));  // Now() == expires_at
  absl::StatusOr<Claims> result = tokens_.Verify(token);
  ExpectUnauthenticated(result, token);
  EXPECT_EQ(result.status().message(), "token expired");
}

TEST_F(TokensTest, MalformedInputsAreUnauthenticated) {
  const std::string good = tokens_.Mint(SomeClaims());
  const std::string payload = good.substr(3, good.rfind('.') - 3);
  const std::string mac = good.substr(good.rfind('.') + 1);
  const std::vector<std::string> inputs = {
      "",
      "v1",
      "v1.",
      "v1..",
      "nodots",
      "v2." + payload + "." + mac,
      "V1." + payload + "." + mac,
      "v1." + payload,
      "v1." + payload + ".",
      "v1.." + mac,
      "v1." + payload + "." + mac + ".",
      "v1." + payload + ".x." + mac,
      "v1." + payload + "." + mac + "=",
      "v1." + payload + "=." + mac,
      "v1." + payload + "." + mac.substr(0, mac.size() - 1),
      "v1." + payload + "." + mac + "AA",
      "v1.!!!!." + mac,
      "v1." + payload + ".++++",
      " " + good,
      good + " ",
      std::string(1 << 20, 'A'),
      "v1." + std::string(100000, 'A') + "." + mac,
      std::string("v1.\0\0\0.", 7) + mac,
      "v1.\xff\xfe." + mac,
  };
  for (const std::string& input : inputs) {
    SCOPED_TRACE(input.substr(0, 80));
    ExpectUnauthenticated(tokens_.Verify(input), input);
  }
}

TEST_F(TokensTest, SignedButMalformedPayloadIsRefused) {
  // A payload that carries a valid MAC (we hold the secret here) but does not
  // parse: strict parsing must still refuse it.
  const std::vector<Claims> bad = {
      {"", Role::kAgent, "n", clock_.Now() + absl::Hours(1)},
      {"a|b", Role::kAgent, "n", clock_.Now() + absl::Hours(1)},
      {"ok", Role::kUnknown, "n", clock_.Now() + absl::Hours(1)},
      {"ok", Role::kAgent, "", clock_.Now() + absl::Hours(1)},
      {"ok", Role::kAgent, "a+b", clock_.Now() + absl::Hours(1)},
      {std::string(129, 'a'), Role::kAgent, "n", clock_.Now() + absl::Hours(1)},
      {"ok", Role::kAgent, "n", absl::FromUnixSeconds(-5)},
  };
  for (const Claims& claims : bad) {
    SCOPED_TRACE(claims.session_id.substr(0, 20) + " " + claims.nonce);
    const std::string token = tokens_.Mint(claims);
    ExpectUnauthenticated(tokens_.Verify(token), token);
  }
}

TEST_F(TokensTest, EveryTruncationIsRefused) {
  const std::string good = tokens_.Mint(SomeClaims());
  for (size_t n = 0; n < good.size(); ++n) {
    SCOPED_TRACE(n);
    EXPECT_FALSE(tokens_.Verify(good.substr(0, n)).ok());
  }
}

TEST_F(TokensTest, RandomMutationsNeverVerify) {
  // A small deterministic fuzz: every mutation of a valid token is refused
  // (and, under ASan/UBSan, touches nothing it should not).
  const std::string good = tokens_.Mint(SomeClaims());
  std::mt19937 rng(12345);
  for (int i = 0; i < 20000; ++i) {
    std::string token = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % (token.size() + 1);
      switch (rng() % 3) {
        case 0:
          if (at < token.size()) token[at] = static_cast<char>(rng());
          break;
        case 1:
          token.insert(at, 1, static_cast<char>(rng()));
          break;
        case 2:
          if (at < token.size()) token.erase(at, 1);
          break;
      }
    }
    absl::StatusOr<Claims> result = tokens_.Verify(token);
    if (token == good) continue;
    ASSERT_FALSE(result.ok()) << token;
    ASSERT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
  }
  for (int i = 0; i < 5000; ++i) {
    std::string junk(rng() % 200, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (i % 2 == 0) junk = "v1." + junk;
    EXPECT_FALSE(tokens_.Verify(junk).ok());
    EXPECT_FALSE(Authenticate(junk, "admin", tokens_).ok());
  }
}

TEST(AdminTokenTest, Matches) {
  EXPECT_TRUE(AdminTokenMatches("admin-secret", "admin-secret"));
  EXPECT_FALSE(AdminTokenMatches("admin-secret", "admin-secreT"));
  EXPECT_FALSE(AdminTokenMatches("admin-secret", "admin-secret2"));
  EXPECT_FALSE(AdminTokenMatches("admin-secret", ""));
  EXPECT_FALSE(AdminTokenMatches("", ""));
  EXPECT_FALSE(AdminTokenMatches("", "anything"));
}

TEST(RandomTokenTest, LengthAlphabetAndUniqueness) {
  const std::string a = RandomToken(16);
  const std::string b = RandomToken(16);
  EXPECT_EQ(a.size(), 22u);  // 16 bytes, base64url without padding
  EXPECT_NE(a, b);
  for (char c : a + b) {
    EXPECT_TRUE(absl::ascii_isalnum(c) || c == '-' || c == '_') << c;
  }
  EXPECT_EQ(RandomToken(32).size(), 43u);
  EXPECT_EQ(RandomToken(0), "");
}

class AuthenticateTest : public TokensTest {
 protected:
  absl::StatusOr<Caller> Auth(std::string_view header) {
    return Authenticate(header, kAdmin, tokens_);
  }
  static constexpr char kAdmin[] = "the-admin-token";
};

TEST_F(AuthenticateTest, MissingIsUnauthenticated) {
  for (std::string_view header : {"", "   ", "Bearer", "bearer ", "Bearer   "}) {
    SCOPED_TRACE(header);
    absl::StatusOr<Caller> caller = Auth(header);
    ASSERT_FALSE(caller.ok());
    EXPECT_EQ(caller.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(caller.status().message(), "missing bearer token");
  }
}

TEST_F(AuthenticateTest, AdminToken) {
  absl::StatusOr<Caller> caller = Auth("Bearer the-admin-token");
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_TRUE(caller->admin);
  EXPECT_TRUE(caller->claims.session_id.empty());
}

TEST_F(AuthenticateTest, SchemeIsCaseInsensitiveAndValueTrimmed) {
  for (std::string_view header : {"bearer the-admin-token", "BEARER the-admin-token",
                                  "  Bearer the-admin-token \t"}) {
    SCOPED_TRACE(header);
    absl::StatusOr<Caller> caller = Auth(header);
    ASSERT_TRUE(caller.ok()) << caller.status();
    EXPECT_TRUE(caller->admin);
  }
}

TEST_F(AuthenticateTest, ParticipantToken) {
  const std::string token = tokens_.Mint(SomeClaims());
  absl::StatusOr<Caller> caller = Auth("Bearer " + token);
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_FALSE(caller->admin);
  EXPECT_EQ(caller->claims.session_id, "session-1.A_b");
  EXPECT_EQ(caller->claims.role, Role::kConsumer);
}

TEST_F(AuthenticateTest, WrongSchemeOrShapeIsUnauthenticated) {
  const std::string token = tokens_.Mint(SomeClaims());
  const std::vector<std::string> headers = {
      "Basic " + token,           token,
      "Bearer  " + token,         "Bearer\t" + token,
      "Bearer" + token,           "Bearer " + token + " extra",
      "Bearer the-admin-token x", std::string("Bearer the-admin\0token", 22)};
  for (const std::string& header : headers) {
    SCOPED_TRACE(header);
    absl::StatusOr<Caller> caller = Auth(header);
    ASSERT_FALSE(caller.ok());
    EXPECT_EQ(caller.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(std::string(caller.status().message()), Not(HasSubstr(token)));
  }
}

TEST_F(AuthenticateTest, ForgedAndNearAdminAreUnauthenticated) {
  for (std::string_view header :
       {"Bearer the-admin-tokeN", "Bearer v1.abc.def", "Bearer garbage"}) {
    SCOPED_TRACE(header);
    absl::StatusOr<Caller> caller = Auth(header);
    ASSERT_FALSE(caller.ok());
    EXPECT_EQ(caller.status().code(), absl::StatusCode::kUnauthenticated);
  }
}

TEST_F(AuthenticateTest, EmptyAdminTokenNeverMatches) {
  absl::StatusOr<Caller> caller = Authenticate("Bearer x", "", tokens_);
  ASSERT_FALSE(caller.ok());
  EXPECT_EQ(caller.status().code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace docshare
