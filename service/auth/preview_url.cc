#include "service/auth/preview_url.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "service/auth/tokens.h"

namespace docshare {
namespace {

constexpr std::string_view kLabel = "docshare-preview-url-v1";
constexpr size_t kMaxIdBytes = 128;
constexpr size_t kMaxDigits = 18;  // no int64 overflow

absl::Status Denied() {
  return absl::PermissionDeniedError("invalid preview URL signature");
}

std::string_view RenditionPathName(Rendition rendition) {
  return rendition == Rendition::kDisplay ? "display" : "thumbnail";
}

std::optional<Rendition> ParseRendition(std::string_view name) {
  if (name == "thumbnail") return Rendition::kThumbnail;
  if (name == "display") return Rendition::kDisplay;
  return std::nullopt;
}

// Session ids are [A-Za-z0-9._-]; nonces base64url: both safe in a path.
bool IsIdPart(std::string_view s) {
  return !s.empty() && s.size() <= kMaxIdBytes &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-';
         });
}

std::optional<int64_t> ParseDigits(std::string_view s) {
  if (s.empty() || s.size() > kMaxDigits || (s.size() > 1 && s[0] == '0')) {
    return std::nullopt;
  }
  int64_t value = 0;
  for (char c : s) {
    if (!absl::ascii_isdigit(c)) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  while (true) {
    const size_t end = s.find(sep);
    parts.push_back(s.substr(0, end));
    if (end == std::string_view::npos) return parts;
    s.remove_prefix(end + 1);
  }
}

std::string SignedText(std::string_view session_id, std::string_view nonce,
                       int64_t sequence, Rendition rendition, int64_t expires) {
  return absl::StrCat(std::string(kLabel), "|", std::string(session_id), "|",
                      std::string(nonce), "|", sequence, "|",
                      std::string(RenditionPathName(rendition)), "|", expires);
}

}  // namespace

PreviewUrlSigner::PreviewUrlSigner(std::string secret, const Clock& clock,
                                   absl::Duration ttl, std::string public_url)
    : secret_(std::move(secret)),
      clock_(clock),
      ttl_(ttl),
      public_url_(std::move(public_url)) {
  while (!public_url_.empty() && public_url_.back() == '/') public_url_.pop_back();
}

std::string PreviewUrlSigner::Sign(std::string_view session_id, std::string_view nonce,
                                   int64_t sequence, Rendition rendition,
                                   absl::Time session_expires_at) const {
  const absl::Time expires_at = std::min(session_expires_at, clock_.Now() + ttl_);
  const int64_t expires = absl::ToUnixSeconds(expires_at);
  const std::string mac =
      HmacSha256(secret_, SignedText(session_id, nonce, sequence, rendition, expires));
  return absl::StrCat(public_url_, std::string(kPathPrefix), std::string(session_id), "/",
                      std::string(nonce), "/", sequence, "/",
                      std::string(RenditionPathName(rendition)), "?expires=", expires,
                      "&signature=", Base64UrlEncode(mac));
}

absl::StatusOr<PreviewRef> PreviewUrlSigner::Verify(std::string_view path,
                                                    std::string_view query) const {
  if (!path.starts_with(kPathPrefix)) return Denied();
  const std::vector<std::string_view> parts = Split(path.substr(kPathPrefix.size()), '/');
  if (parts.size() != 4 || !IsIdPart(parts[0]) || !IsIdPart(parts[1])) return Denied();
  const std::optional<int64_t> sequence = ParseDigits(parts[2]);
  const std::optional<Rendition> rendition = ParseRendition(parts[3]);
  if (!sequence || *sequence < 1 || !rendition) return Denied();

  std::optional<int64_t> expires;
  std::optional<std::string> signature;
  for (std::string_view param : Split(query, '&')) {
    const size_t eq = param.find('=');
    if (eq == std::string_view::npos) return Denied();
    const std::string_view name = param.substr(0, eq);
    const std::string_view value = param.substr(eq + 1);
    if (name == "expires" && !expires) {
      expires = ParseDigits(value);
      if (!expires) return Denied();
    } else if (name == "signature" && !signature) {
      signature = Base64UrlDecode(value);
      if (!signature) return Denied();
    } else {
      return Denied();  // unknown or repeated: one URL has one spelling
    }
  }
  if (!expires || !signature) return Denied();
  const std::string expected = HmacSha256(
      secret_, SignedText(parts[0], parts[1], *sequence, *rendition, *expires));
  if (signature->size() != expected.size() ||
      CRYPTO_memcmp(signature->data(), expected.data(), expected.size()) != 0) {
    return Denied();
  }
  const absl::Time expires_at = absl::FromUnixSeconds(*expires);
  if (clock_.Now() >= expires_at) {
    return absl::PermissionDeniedError("preview URL expired");
  }
  return PreviewRef{std::string(parts[0]), std::string(parts[1]), *sequence, *rendition,
                    expires_at};
}

}  // namespace docshare
