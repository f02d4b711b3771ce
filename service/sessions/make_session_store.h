#ifndef DOCSHARE_SESSIONS_MAKE_SESSION_STORE_H_
#define DOCSHARE_SESSIONS_MAKE_SESSION_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "service/common/clock.h"
#include "service/common/observer.h"
#include "service/sessions/redis_store.h"
#include "service/sessions/session_store.h"

namespace docshare {

// "redis[s]://[[user]:password@]host[:port][/db]" (port 6379, db 0 by default;
// rediss: TLS). INVALID_ARGUMENT names what is wrong, never the password.
absl::StatusOr<RedisAddress> ParseRedisUrl(const std::string& url);

// The Redis options beside the URL: --redis-ca, --redis-cert, --redis-key,
// --redis-password-file.
struct RedisFiles {
  std::string ca;
  std::string cert;
  std::string key;
  std::string password_file;
};

// The URL with those options applied (the password file read). Refuses
// rediss:// in a build without TLS, with the reason, and TLS files without it.
absl::StatusOr<RedisAddress> ParseRedisBackplane(const std::string& url,
                                                 const RedisFiles& files);

// --backplane: "memory", or a Redis URL. Never connects: a Redis backplane
// starts unhealthy and connects in the background, so this fails only on a
// malformed URL.
absl::StatusOr<std::unique_ptr<SessionStore>> MakeSessionStore(
    const std::string& url, const Clock& clock, SessionCaps caps, Observer& observer,
    const RedisFiles& files = {});

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_MAKE_SESSION_STORE_H_
