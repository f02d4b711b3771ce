#ifndef DOCSHARE_AUTH_PREVIEW_URL_H_
#define DOCSHARE_AUTH_PREVIEW_URL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/common/clock.h"
#include "service/common/types.h"

namespace docshare {

// What a verified preview URL names: one rendition of the DocumentShared at
// `sequence` of one start (`nonce`) of a session.
struct PreviewRef {
  std::string session_id;
  std::string nonce;
  int64_t sequence = 0;
  Rendition rendition = Rendition::kThumbnail;
  absl::Time expires_at;  // of the URL
};

// Signs and verifies preview URLs (DESIGN "Preview URL"):
//   [public_url]/v1/previews/<session>/<nonce>/<sequence>/<rendition>
//       ?expires=<unix seconds>&signature=<base64url HMAC-SHA256>
// The HMAC key is the token secret, so any replica verifies any URL without a
// lookup; the signed text starts with its own label, so a URL's signature is
// never a token's. A URL expires at min(session expiry, now + ttl).
class PreviewUrlSigner {
 public:
  static constexpr std::string_view kPathPrefix = "/v1/previews/";

  // `public_url` (e.g. "https://docshare.example.com") makes URLs absolute;
  // empty, they are paths from "/".
  PreviewUrlSigner(std::string secret, const Clock& clock, absl::Duration ttl,
                   std::string public_url);

  std::string Sign(std::string_view session_id, std::string_view nonce, int64_t sequence,
                   Rendition rendition, absl::Time session_expires_at) const;

  // `path` and `query` (without '?') of a request. PERMISSION_DENIED for a
  // malformed, forged or expired URL; the message never echoes the URL.
  absl::StatusOr<PreviewRef> Verify(std::string_view path, std::string_view query) const;

 private:
  std::string secret_;
  const Clock& clock_;
  absl::Duration ttl_;
  std::string public_url_;
};

}  // namespace docshare

#endif  // DOCSHARE_AUTH_PREVIEW_URL_H_
