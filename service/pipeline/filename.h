#ifndef DOCSHARE_PIPELINE_FILENAME_H_
#define DOCSHARE_PIPELINE_FILENAME_H_

#include <string>
#include <string_view>

namespace docshare {

// The name shown to participants: the last path component (of '/' or '\'),
// without control characters or invalid UTF-8, at most 255 bytes, never
// empty, "." or "..". Falls back to "document".
std::string SanitizeFilename(std::string_view name);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_FILENAME_H_
