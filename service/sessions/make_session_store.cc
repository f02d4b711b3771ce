#include "service/sessions/make_session_store.h"

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/common/build_features.h"
#include "service/common/status_macros.h"
#include "service/sessions/memory_store.h"

namespace docshare {

absl::StatusOr<RedisAddress> ParseRedisUrl(const std::string& url) {
  auto bad = [&](std::string_view why) {
    // The URL may carry a password: name the option, not its value.
    return absl::InvalidArgumentError(
        absl::StrCat("backplane: ", std::string(why),
                     " (expected redis[s]://[[user]:password@]host[:port][/db])"));
  };
  RedisAddress address;
  std::string_view rest = url;
  if (rest.rfind("redis://", 0) == 0) {
    rest.remove_prefix(8);
  } else if (rest.rfind("rediss://", 0) == 0) {
    rest.remove_prefix(9);
    address.security.tls = true;
  } else {
    return bad("not a redis:// or rediss:// URL");
  }
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view credentials = rest.substr(0, at);
    const size_t colon = credentials.find(':');
    if (colon == std::string_view::npos || colon + 1 == credentials.size()) {
      return bad("credentials must be user:password or :password");
    }
    address.security.username = std::string(credentials.substr(0, colon));
    address.security.password = std::string(credentials.substr(colon + 1));
    rest = rest.substr(at + 1);
  }
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    const std::string db(rest.substr(slash + 1));
    if (!db.empty() && (!absl::SimpleAtoi(db, &address.db) || address.db < 0)) {
      return bad("the database is not a number");
    }
    rest = rest.substr(0, slash);
  }
  if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    const std::string port(rest.substr(colon + 1));
    if (!absl::SimpleAtoi(port, &address.port) || address.port <= 0 ||
        address.port > 65535) {
      return bad("the port is not a number from 1 to 65535");
    }
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return bad("no host");
  address.host = std::string(rest);
  return address;
}

absl::StatusOr<RedisAddress> ParseRedisBackplane(const std::string& url,
                                                 const RedisFiles& files) {
  ASSIGN_OR_RETURN(RedisAddress address, ParseRedisUrl(url));
  RedisSecurity& security = address.security;
  security.ca_file = files.ca;
  security.cert_file = files.cert;
  security.key_file = files.key;
  if (!security.tls && !(files.ca.empty() && files.cert.empty() && files.key.empty())) {
    return absl::InvalidArgumentError(
        "redis-ca: --redis-ca, --redis-cert and --redis-key need a rediss:// backplane");
  }
  if (files.cert.empty() != files.key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(files.cert.empty() ? "redis-cert" : "redis-key",
                     ": --redis-cert and --redis-key go together"));
  }
  if (security.tls && !kRedisTlsAvailable) {
    return absl::InvalidArgumentError(
        "backplane: rediss:// (TLS) needs hiredis with TLS (hiredis_ssl: Debian 13's "
        "hiredis 1.2); this build's hiredis (Debian 12: 0.14) has none. Use redis:// on "
        "a private network or a TLS sidecar (stunnel)");
  }
  if (!files.password_file.empty()) {
    if (!security.password.empty()) {
      return absl::InvalidArgumentError(
          "redis-password-file: the backplane URL already carries a password");
    }
    absl::StatusOr<std::string> password = ReadRedisPassword(files.password_file);
    if (!password.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis-password-file: ", password.status().message()));
    }
    security.password = *std::move(password);
  }
  return address;
}

absl::StatusOr<std::unique_ptr<SessionStore>> MakeSessionStore(const std::string& url,
                                                               const Clock& clock,
                                                               SessionCaps caps,
                                                               Observer& observer,
                                                               const RedisFiles& files) {
  if (url == "memory") return std::make_unique<MemoryStore>(clock, caps, observer);
  absl::StatusOr<RedisAddress> address = ParseRedisBackplane(url, files);
  if (!address.ok()) return address.status();
  return std::make_unique<RedisStore>(*std::move(address), clock, caps, observer);
}

}  // namespace docshare
