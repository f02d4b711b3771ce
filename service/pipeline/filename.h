#ifndef DOCSHARE_PIPELINE_FILENAME_H_
#define DOCSHARE_PIPELINE_FILENAME_H_

#include <string>
#include <string_view>

namespace docshare {

// The name shown to participants: the last path component (of '/' or '\'),
// without control characters, invalid UTF-8, bidi controls (U+202A-U+202E,
// U+2066-U+2069, U+200E/F, U+061C), zero-width characters (U+200B-U+200D,
// U+2060), U+2028/U+2029 or a BOM (U+FEFF), at most 255 bytes, never
// empty, "." or "..". Falls back to "document".
std::string SanitizeFilename(std::string_view name);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_FILENAME_H_
