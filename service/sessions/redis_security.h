#ifndef DOCSHARE_SESSIONS_REDIS_SECURITY_H_
#define DOCSHARE_SESSIONS_REDIS_SECURITY_H_

// TLS (rediss://) and AUTH on a fresh Redis connection: the one place that
// knows hiredis' TLS API (hiredis_ssl, Debian 13) and how we authenticate.

#include <hiredis/hiredis.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace docshare {

struct RedisSecurity {
  bool tls = false;     // rediss://
  std::string ca_file;  // --redis-ca: verify the server against it (else the system CAs)
  std::string cert_file;  // --redis-cert and --redis-key: a client certificate
  std::string key_file;
  std::string username;  // AUTH username password (Redis 6 ACL); empty: AUTH password
  std::string password;  // from the URL or --redis-password-file; empty: no AUTH
};

// Runs on a connected context before any other command: the TLS handshake when
// `tls`, then AUTH when there is a password. UNAVAILABLE naming what failed.
absl::Status SecureRedisConnection(redisContext* c, const std::string& host,
                                   const RedisSecurity& security);

// --redis-password-file's content without a trailing newline.
absl::StatusOr<std::string> ReadRedisPassword(const std::string& path);

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_REDIS_SECURITY_H_
