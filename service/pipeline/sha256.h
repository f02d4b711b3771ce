#ifndef DOCSHARE_PIPELINE_SHA256_H_
#define DOCSHARE_PIPELINE_SHA256_H_

#include <string>
#include <string_view>

namespace docshare {

// Lowercase hex SHA-256 of `bytes` (64 characters). Aborts if OpenSSL fails:
// a broken libcrypto leaves no safe way to continue.
std::string Sha256Hex(std::string_view bytes);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_SHA256_H_
