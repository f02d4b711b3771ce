#ifndef DOCSHARE_SESSIONS_REDIS_CONNECTION_H_
#define DOCSHARE_SESSIONS_REDIS_CONNECTION_H_

// A hiredis connection (RESP2) and the pool of idle ones the Redis store's
// commands and scripts run on.

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "service/sessions/redis_security.h"

namespace docshare {

struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  RedisSecurity security;  // rediss:// and AUTH
};

// "redis://host:port/db": where it connects, never a secret.
std::string AddressText(const RedisAddress& address);

// Connect and command timeouts: a Redis that does not answer fails the
// command with UNAVAILABLE after this long.
inline constexpr timeval kRedisTimeout = {1, 0};

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// One hiredis context: connected, secured (TLS, AUTH) and on its database.
class RedisConnection {
 public:
  explicit RedisConnection(redisContext* c) : c_(c) {}
  ~RedisConnection() { redisFree(c_); }
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // UNAVAILABLE when Redis cannot be reached; INVALID_ARGUMENT when it
  // refuses the database.
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Open(
      const RedisAddress& address);

  // UNAVAILABLE on an I/O error (the connection is then useless: the pool
  // drops it); an error reply is returned as a reply.
  absl::StatusOr<ReplyPtr> Command(const std::vector<std::string>& args);

  redisContext* context() { return c_; }

 private:
  redisContext* c_;
};

// Commands on idle pooled connections (a new one when none is idle); a
// connection goes back to the pool after its command unless it broke.
class RedisPool {
 public:
  explicit RedisPool(RedisAddress address) : address_(std::move(address)) {}

  absl::StatusOr<ReplyPtr> Command(const std::vector<std::string>& argv)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Drops the idle connections (after a Redis restart they are likely dead).
  void Clear() ABSL_LOCKS_EXCLUDED(mu_);

  const RedisAddress& address() const { return address_; }

 private:
  static constexpr size_t kMaxIdle = 8;
  const RedisAddress address_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<RedisConnection>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_REDIS_CONNECTION_H_
