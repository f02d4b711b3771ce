#ifndef DOCSHARE_SESSIONS_MAKE_BACKPLANE_H_
#define DOCSHARE_SESSIONS_MAKE_BACKPLANE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "service/common/clock.h"
#include "service/common/observer.h"
#include "service/sessions/backplane.h"
#include "service/sessions/redis_backplane.h"

namespace docshare {

// "redis://host[:port][/db]" (port 6379, db 0 by default). INVALID_ARGUMENT
// names what is wrong.
absl::StatusOr<RedisAddress> ParseRedisUrl(const std::string& url);

// --backplane: "memory", or a Redis URL. Never connects: a Redis backplane
// starts unhealthy and connects in the background, so this fails only on a
// malformed URL.
absl::StatusOr<std::unique_ptr<Backplane>> MakeBackplane(const std::string& url,
                                                         const Clock& clock,
                                                         SessionCaps caps,
                                                         Observer& observer);

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_MAKE_BACKPLANE_H_
