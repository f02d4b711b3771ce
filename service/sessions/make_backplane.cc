#include "service/sessions/make_backplane.h"

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/sessions/memory_backplane.h"

namespace docshare {

absl::StatusOr<RedisAddress> ParseRedisUrl(const std::string& url) {
  constexpr std::string_view kScheme = "redis://";
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("backplane \"", url, "\": ", std::string(why),
                     " (expected redis://host[:port][/db])"));
  };
  if (url.rfind(kScheme, 0) != 0) return bad("not a redis:// URL");
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  RedisAddress address;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    const std::string db(rest.substr(slash + 1));
    if (!db.empty() && (!absl::SimpleAtoi(db, &address.db) || address.db < 0)) {
      return bad("the database is not a number");
    }
    rest = rest.substr(0, slash);
  }
  if (rest.find('@') != std::string_view::npos)
    return bad("credentials are not supported");
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

absl::StatusOr<std::unique_ptr<Backplane>> MakeBackplane(const std::string& url,
                                                         const Clock& clock,
                                                         SessionCaps caps,
                                                         Observer& observer) {
  if (url == "memory") return std::make_unique<MemoryBackplane>(clock, caps, observer);
  absl::StatusOr<RedisAddress> address = ParseRedisUrl(url);
  if (!address.ok()) return address.status();
  return std::make_unique<RedisBackplane>(*std::move(address), clock, caps, observer);
}

}  // namespace docshare
