#ifndef DOCSHARE_TESTS_HTTP_HTTP_TEST_SUPPORT_H_
#define DOCSHARE_TESTS_HTTP_HTTP_TEST_SUPPORT_H_

// A small HTTP client for the tests: libcurl for well-formed requests, a raw
// socket for what curl will not send.

#include <map>
#include <string>
#include <vector>

namespace docshare::http_test {

struct Reply {
  long status = 0;                             // 0: no answer (see error)
  std::map<std::string, std::string> headers;  // names lower-case
  std::string body;
  std::string error;  // curl's, when the request failed

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
  bool Has(const std::string& lower_name) const { return headers.count(lower_name) > 0; }
};

// `url` absolute; `headers` as "Name: value" lines.
Reply Fetch(const std::string& method, const std::string& url,
            const std::vector<std::string>& headers = {}, const std::string& body = "",
            bool insecure_tls = false);

// Connects to 127.0.0.1:port (or [::1] when `ipv6`); -1 on failure.
// `receive_buffer` > 0: SO_RCVBUF set before connecting (a reader whose
// window stays small).
int Connect(int port, bool ipv6 = false, int receive_buffer = 0);
bool SendAll(int fd, const std::string& bytes);
// Reads until the peer closes or `deadline_ms` passes (a bound, not a wait).
std::string ReadUntilClosed(int fd, int deadline_ms = 30000);
// Reads into `*got` until it holds `needle` (true), the peer closes or
// `deadline_ms` passes (false).
bool ReadUntil(int fd, const std::string& needle, std::string* got,
               int deadline_ms = 60000);
// Whether the peer closes the connection within `deadline_ms` (data read on
// the way is appended to `*got`).
bool ClosedWithin(int fd, std::string* got, int deadline_ms = 60000);

}  // namespace docshare::http_test

#endif  // DOCSHARE_TESTS_HTTP_HTTP_TEST_SUPPORT_H_
