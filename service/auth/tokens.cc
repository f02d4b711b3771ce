#include "service/auth/tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"

namespace docshare {
namespace {

constexpr std::string_view kPrefix = "v1.";
// Far above any token Mint produces (~300 bytes); anything longer is refused
// before it is decoded or hashed.
constexpr size_t kMaxTokenBytes = 1024;
constexpr size_t kMaxSessionIdBytes = 128;
constexpr size_t kMaxNonceBytes = 128;
constexpr size_t kMacBytes = 32;  // SHA-256
// Unix seconds up to year 33658: no overflow, no absl::Time saturation.
constexpr size_t kMaxExpiryDigits = 12;

// The messages never include the token or any part of it.
absl::Status Malformed() { return absl::UnauthenticatedError("invalid token"); }

bool IsBase64UrlChar(char c) { return absl::ascii_isalnum(c) || c == '-' || c == '_'; }

bool IsSessionIdChar(char c) {
  return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-';
}

template <typename Pred>
bool AllOf(std::string_view s, Pred pred) {
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

// Base64 (EVP_EncodeBlock) translated to the url-safe alphabet, no padding.
std::string Base64UrlEncode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                Bytes(bytes), static_cast<int>(bytes.size()));
  out.resize(n);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

// Strict: url-safe alphabet only, no padding, canonical (re-encodes to the
// same text), so one byte string has exactly one accepted spelling.
std::optional<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() > kMaxTokenBytes || text.size() % 4 == 1) return std::nullopt;
  if (!AllOf(text, IsBase64UrlChar)) return std::nullopt;
  std::string padded(text);
  for (char& c : padded) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  const size_t pad = (4 - padded.size() % 4) % 4;
  padded.append(pad, '=');
  std::string out(padded.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                Bytes(padded), static_cast<int>(padded.size()));
  if (n < 0 || static_cast<size_t>(n) < pad) return std::nullopt;
  out.resize(static_cast<size_t>(n) - pad);
  if (Base64UrlEncode(out) != text) return std::nullopt;
  return out;
}

std::string HmacSha256(std::string_view secret, std::string_view signed_part) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           Bytes(signed_part), signed_part.size(), mac, &len) == nullptr ||
      len != kMacBytes) {
    std::abort();  // OpenSSL without SHA-256: nothing sensible to do.
  }
  return std::string(reinterpret_cast<const char*>(mac), len);
}

namespace {

// Debian's abseil has its own string_view type, so its string helpers do not
// take std::string_view: these few are written out.
bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(a[i]) != absl::ascii_tolower(b[i])) return false;
  }
  return true;
}

std::string_view StripWhitespace(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(s.front())) s.remove_prefix(1);
  while (!s.empty() && absl::ascii_isspace(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(sep, start);
    if (end == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

std::optional<Role> ParseRole(std::string_view name) {
  if (name == RoleName(Role::kAgent)) return Role::kAgent;
  if (name == RoleName(Role::kConsumer)) return Role::kConsumer;
  return std::nullopt;
}

std::optional<int64_t> ParseUnixSeconds(std::string_view digits) {
  if (digits.empty() || digits.size() > kMaxExpiryDigits) return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  int64_t value = 0;
  for (char c : digits) {
    if (!absl::ascii_isdigit(c)) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

// payload = session_id "|" role "|" nonce "|" expiry-unix-seconds
std::string EncodePayload(const Claims& claims) {
  std::string payload = claims.session_id;
  payload += '|';
  payload += RoleName(claims.role);
  payload += '|';
  payload += claims.nonce;
  payload += '|';
  payload += std::to_string(absl::ToUnixSeconds(claims.expires_at));
  return payload;
}

std::optional<Claims> DecodePayload(std::string_view payload) {
  const std::vector<std::string_view> fields = Split(payload, '|');
  if (fields.size() != 4) return std::nullopt;
  const std::string_view id = fields[0];
  const std::string_view nonce = fields[2];
  if (id.empty() || id.size() > kMaxSessionIdBytes || !AllOf(id, IsSessionIdChar)) {
    return std::nullopt;
  }
  if (nonce.empty() || nonce.size() > kMaxNonceBytes || !AllOf(nonce, IsBase64UrlChar)) {
    return std::nullopt;
  }
  std::optional<Role> role = ParseRole(fields[1]);
  std::optional<int64_t> expiry = ParseUnixSeconds(fields[3]);
  if (!role || !expiry) return std::nullopt;
  return Claims{std::string(id), *role, std::string(nonce),
                absl::FromUnixSeconds(*expiry)};
}

// SHA-256, fetched from the provider once: EVP_sha256() in a one-shot call
// looks the implementation up again on every call (half the cost of the
// admin token check, which hashes twice per call).
const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) std::abort();  // OpenSSL without SHA-256: nothing sensible to do.
  return md;
}

std::string Sha256(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &len, Sha256Md(), nullptr) != 1) {
    std::abort();
  }
  return std::string(reinterpret_cast<const char*>(digest), len);
}

}  // namespace

std::string TokenService::Mint(const Claims& claims) const {
  return SignPayload(EncodePayload(claims));
}

std::string TokenService::SignPayload(std::string_view payload) const {
  std::string token(kPrefix);
  token += Base64UrlEncode(payload);
  const std::string mac = HmacSha256(secrets_.front(), token);
  token += '.';
  token += Base64UrlEncode(mac);
  return token;
}

absl::StatusOr<Claims> TokenService::Verify(std::string_view token) const {
  if (token.size() > kMaxTokenBytes || !token.starts_with(kPrefix)) {
    return Malformed();
  }
  const size_t dot = token.rfind('.');
  if (dot < kPrefix.size()) return Malformed();  // only the prefix's dot
  const std::string_view signed_part = token.substr(0, dot);
  const std::string_view payload_text = signed_part.substr(kPrefix.size());
  std::optional<std::string> presented_mac = Base64UrlDecode(token.substr(dot + 1));
  if (!presented_mac || presented_mac->size() != kMacBytes ||
      !AllOf(payload_text, IsBase64UrlChar)) {
    return Malformed();
  }
  bool signed_by_us = false;
  for (const std::string& secret : secrets_) {  // current first, then previous ones
    const std::string expected_mac = HmacSha256(secret, signed_part);
    if (CRYPTO_memcmp(expected_mac.data(), presented_mac->data(), kMacBytes) == 0) {
      signed_by_us = true;
      break;
    }
  }
  if (!signed_by_us) return absl::UnauthenticatedError("invalid token signature");
  // Signed by us from here on; still parsed strictly.
  std::optional<std::string> payload = Base64UrlDecode(payload_text);
  if (!payload) return Malformed();
  std::optional<Claims> claims = DecodePayload(*payload);
  if (!claims) return Malformed();
  if (clock_.Now() >= claims->expires_at) {
    return absl::UnauthenticatedError("token expired");
  }
  return *std::move(claims);
}

bool AdminTokenMatches(std::string_view expected, std::string_view presented) {
  if (expected.empty()) return false;
  // Comparing digests keeps the time independent of where (and whether) the
  // lengths differ.
  const std::string a = Sha256(expected);
  const std::string b = Sha256(presented);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string RandomToken(size_t bytes) {
  std::string raw(bytes, '\0');
  if (bytes > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()),
                              static_cast<int>(bytes)) != 1) {
    std::abort();  // No entropy: minting guessable secrets would be worse.
  }
  return Base64UrlEncode(raw);
}

std::string GenerateAdminToken() { return "adm_" + RandomToken(24); }

absl::StatusOr<Caller> Authenticate(std::string_view authorization,
                                    std::string_view admin_token,
                                    const TokenService& tokens) {
  constexpr std::string_view kScheme = "bearer";
  const std::string_view value = StripWhitespace(authorization);
  if (value.empty() || EqualsIgnoreCase(value, kScheme)) {
    return absl::UnauthenticatedError("missing bearer token");
  }
  if (value.size() <= kScheme.size() ||
      !EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme) ||
      value[kScheme.size()] != ' ') {
    return absl::UnauthenticatedError("authorization is not \"Bearer <token>\"");
  }
  const std::string_view token = value.substr(kScheme.size() + 1);
  for (char c : token) {
    if (!absl::ascii_isgraph(c)) {
      return absl::UnauthenticatedError("authorization is not \"Bearer <token>\"");
    }
  }
  if (AdminTokenMatches(admin_token, token)) return Caller{.admin = true, .claims = {}};
  absl::StatusOr<Claims> claims = tokens.Verify(token);
  if (!claims.ok()) return claims.status();
  return Caller{.admin = false, .claims = *std::move(claims)};
}

}  // namespace docshare
