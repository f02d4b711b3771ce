#ifndef DOCSHARE_AUTH_TOKENS_H_
#define DOCSHARE_AUTH_TOKENS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/common/clock.h"
#include "service/common/types.h"

namespace docshare {

// What a participant token says. `nonce` binds it to one start of the
// session: a session id started again after it ended has a new nonce.
struct Claims {
  std::string session_id;
  Role role = Role::kUnknown;
  std::string nonce;
  absl::Time expires_at;
};

// Mints and verifies HMAC-SHA256-signed tokens (OpenSSL):
// "v1." base64url(payload) "." base64url(mac). Any replica with the same
// secret verifies them without a lookup.
class TokenService {
 public:
  TokenService(std::string secret, const Clock& clock)
      : secrets_{std::move(secret)}, clock_(clock) {}
  // Rotation: tokens are signed with `secrets[0]` and verified against each,
  // so tokens signed with a previous secret keep working until they expire.
  // `secrets` must not be empty.
  TokenService(std::vector<std::string> secrets, const Clock& clock)
      : secrets_(std::move(secrets)), clock_(clock) {}

  std::string Mint(const Claims& claims) const;
  // The token for an arbitrary payload (what Mint does after encoding the
  // claims); for tests and the fuzzer, which sign payloads Mint never makes.
  std::string SignPayload(std::string_view payload) const;
  // UNAUTHENTICATED for a malformed, forged or expired token.
  absl::StatusOr<Claims> Verify(std::string_view token) const;

 private:
  std::vector<std::string> secrets_;
  const Clock& clock_;
};

// The primitives of tokens and signed preview URLs (preview_url.h).
std::string HmacSha256(std::string_view secret, std::string_view data);
// Url-safe alphabet, no padding.
std::string Base64UrlEncode(std::string_view bytes);
// Strict and canonical; nullopt for anything else (or over 1024 characters).
std::optional<std::string> Base64UrlDecode(std::string_view text);

// Constant-time comparison of the admin token.
bool AdminTokenMatches(std::string_view expected, std::string_view presented);

// A random token of `bytes` bytes, base64url (for nonces, secrets, ids).
std::string RandomToken(size_t bytes);

// An admin token for a server started without one: "adm_" and 24 random bytes
// (36 characters), so it never starts with '-' on a command line.
std::string GenerateAdminToken();

// Who is calling: the admin, or a participant with verified claims.
struct Caller {
  bool admin = false;
  Claims claims;  // empty for the admin
};

// From the `authorization` metadata value ("Bearer <token>"). Missing,
// malformed or forged: UNAUTHENTICATED. Never logs or echoes the token.
absl::StatusOr<Caller> Authenticate(std::string_view authorization,
                                    std::string_view admin_token,
                                    const TokenService& tokens);

}  // namespace docshare

#endif  // DOCSHARE_AUTH_TOKENS_H_
