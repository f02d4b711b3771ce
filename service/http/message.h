#ifndef DOCSHARE_HTTP_MESSAGE_H_
#define DOCSHARE_HTTP_MESSAGE_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace docshare {

// A request as the routes see it, independent of the server library.
struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target before '?'
  std::string query;   // after '?', raw; never logged (it may hold a token)
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case

  // The header's value, or nullopt.
  std::optional<std::string_view> Header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  void AddHeader(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
  }
};

// The percent-decoded value of `name` in a query string: nullopt when absent,
// INVALID_ARGUMENT when repeated or badly encoded.
absl::StatusOr<std::optional<std::string>> QueryParam(std::string_view query,
                                                      std::string_view name);

}  // namespace docshare

#endif  // DOCSHARE_HTTP_MESSAGE_H_
