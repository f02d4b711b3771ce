#ifndef DOCSHARE_HTTP_ERRORS_H_
#define DOCSHARE_HTTP_ERRORS_H_

#include <string>

#include "absl/status/status.h"

namespace docshare {

// An error as the browser sees it (DESIGN "HTTP"): a status code and
// {"code", "message", "reason", "detectedMimeType"}.
struct HttpError {
  int status = 500;
  std::string json;
  bool retry_later = false;  // 503: send Retry-After
};

// The one mapping from a domain status (and its reject reason payload) to
// HTTP: 400 broken request, 401 missing/forged token, 403 not allowed, 404
// unknown, 409 ended or expired, 410 a withdrawn document (DOCUMENT_WITHDRAWN),
// 413 FILE_TOO_LARGE, 415 UNSUPPORTED_TYPE,
// 422 the other reject reasons, 429 a caller's budget (CallerLimit), 503 render pool full
// or draining.
HttpError ToHttpError(const absl::Status& status);

// `status` (RESOURCE_EXHAUSTED) marked as a budget of the caller (its watch
// streams, its rate): 429 rather than 503.
absl::Status CallerLimit(absl::Status status);

}  // namespace docshare

#endif  // DOCSHARE_HTTP_ERRORS_H_
