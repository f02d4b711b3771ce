#include "service/http/message.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace docshare {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded: '+' is a space, %XX a byte.
std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] != '%') {
      out += s[i];
    } else {
      const int hi = i + 1 < s.size() ? HexValue(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? HexValue(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
  }
  return out;
}

}  // namespace

std::optional<std::string_view> HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<std::string>> QueryParam(std::string_view query,
                                                      std::string_view name) {
  std::optional<std::string> found;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = param.find('=');
    std::optional<std::string> key = PercentDecode(param.substr(0, eq));
    if (!key) return absl::InvalidArgumentError("malformed query string");
    if (*key != name) continue;
    if (found) {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter ", std::string(name), " given more than once"));
    }
    found = PercentDecode(eq == std::string_view::npos ? "" : param.substr(eq + 1));
    if (!found) return absl::InvalidArgumentError("malformed query string");
  }
  return found;
}

}  // namespace docshare
