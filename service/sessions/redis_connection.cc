#include "service/sessions/redis_connection.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"

namespace docshare {

std::string AddressText(const RedisAddress& a) {
  return absl::StrCat("redis://", a.host, ":", a.port, "/", a.db);
}

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Open(
    const RedisAddress& a) {
  redisContext* c = redisConnectWithTimeout(a.host.c_str(), a.port, kRedisTimeout);
  if (c == nullptr || c->err) {
    std::string why = c ? c->errstr : "out of memory";
    if (c) redisFree(c);
    return absl::UnavailableError(
        absl::StrCat("redis ", a.host, ":", a.port, " unreachable: ", why));
  }
  auto conn = std::make_unique<RedisConnection>(c);
  redisSetTimeout(c, kRedisTimeout);
  RETURN_IF_ERROR(SecureRedisConnection(c, a.host, a.security));
  if (a.db != 0) {
    ASSIGN_OR_RETURN(ReplyPtr r, conn->Command({"SELECT", std::to_string(a.db)}));
    if (r->type == REDIS_REPLY_ERROR) {
      return absl::InvalidArgumentError(absl::StrCat("redis SELECT: ", r->str));
    }
  }
  return conn;
}

absl::StatusOr<ReplyPtr> RedisConnection::Command(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (r == nullptr) {
    return absl::UnavailableError(absl::StrCat("redis: ", c_->errstr));
  }
  return ReplyPtr(r);
}

absl::StatusOr<ReplyPtr> RedisPool::Command(const std::vector<std::string>& argv) {
  std::unique_ptr<RedisConnection> conn;
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!conn) {
    ASSIGN_OR_RETURN(conn, RedisConnection::Open(address_));
  }
  ASSIGN_OR_RETURN(ReplyPtr reply, conn->Command(argv));
  absl::MutexLock lock(&mu_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(conn));
  return reply;
}

void RedisPool::Clear() {
  std::vector<std::unique_ptr<RedisConnection>> gone;
  {
    absl::MutexLock lock(&mu_);
    gone.swap(idle_);
  }
}  // closed here, outside the lock

}  // namespace docshare
