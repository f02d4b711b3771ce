#include "service/sessions/redis_security.h"

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "service/common/build_features.h"

#if DOCSHARE_REDIS_TLS
#include <hiredis/hiredis_ssl.h>
#endif

namespace docshare {
namespace {

absl::Status StartTls(redisContext* c, const std::string& host, const RedisSecurity& s) {
#if DOCSHARE_REDIS_TLS
  static const int initialized = redisInitOpenSSL();  // once per process
  (void)initialized;
  redisSSLContextError error = REDIS_SSL_CTX_NONE;
  auto nullable = [](const std::string& path) {
    return path.empty() ? nullptr : path.c_str();
  };
  // Each connection's SSL holds a reference to the SSL_CTX, so the context
  // may go once the handshake started.
  std::unique_ptr<redisSSLContext, void (*)(redisSSLContext*)> context(
      redisCreateSSLContext(nullable(s.ca_file), nullptr, nullable(s.cert_file),
                            nullable(s.key_file), host.c_str(), &error),
      &redisFreeSSLContext);
  if (context == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("redis TLS setup: ", redisSSLContextGetError(error)));
  }
  if (redisInitiateSSLWithContext(c, context.get()) != REDIS_OK) {
    return absl::UnavailableError(absl::StrCat("redis TLS handshake with ", host, ": ",
                                               c->errstr[0] ? c->errstr : "failed"));
  }
  return absl::OkStatus();
#else
  // Validate refuses rediss:// in such a build; reaching here is a bug.
  return absl::FailedPreconditionError(
      "rediss:// needs hiredis with TLS (hiredis_ssl, Debian 13); this build has none");
#endif
}

absl::Status Authenticate(redisContext* c, const RedisSecurity& s) {
  std::vector<const char*> argv = {"AUTH"};
  if (!s.username.empty()) argv.push_back(s.username.c_str());
  argv.push_back(s.password.c_str());
  std::vector<size_t> lens;
  for (const char* a : argv) lens.push_back(std::char_traits<char>::length(a));
  std::unique_ptr<redisReply, void (*)(void*)> reply(
      static_cast<redisReply*>(
          redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())),
      &freeReplyObject);
  if (reply == nullptr)
    return absl::UnavailableError(absl::StrCat("redis AUTH: ", c->errstr));
  if (reply->type == REDIS_REPLY_ERROR) {
    return absl::UnavailableError(absl::StrCat("redis AUTH refused: ", reply->str));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SecureRedisConnection(redisContext* c, const std::string& host,
                                   const RedisSecurity& security) {
  if (security.tls) {
    if (absl::Status s = StartTls(c, host, security); !s.ok()) return s;
  }
  if (!security.password.empty()) return Authenticate(c, security);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadRedisPassword(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  std::string password = text.str();
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) {
    password.pop_back();
  }
  if (password.empty())
    return absl::InvalidArgumentError(absl::StrCat(path, " is empty"));
  return password;
}

}  // namespace docshare
