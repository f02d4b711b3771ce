#include "service/pipeline/filename.h"

#include <cstdint>

namespace docshare {
namespace {

constexpr size_t kMaxBytes = 255;

// Length of the valid UTF-8 sequence at s[i], or 0 when invalid.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto c = static_cast<uint8_t>(s[i]);
  size_t n = c < 0x80           ? 1
             : (c >> 5) == 0x6  ? 2
             : (c >> 4) == 0xE  ? 3
             : (c >> 3) == 0x1E ? 4
                                : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) return 0;
  }
  return n;
}

// Code points that change how a name reads without being visible: bidi
// embeddings, overrides, isolates and marks (a "gpj.exe" shown as
// "exe.jpg"), zero-width characters, line and paragraph separators, and the
// byte order mark.
bool Invisible(uint32_t cp) {
  return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
         cp == 0x200E || cp == 0x200F || cp == 0x061C || (cp >= 0x200B && cp <= 0x200D) ||
         cp == 0x2060 || cp == 0xFEFF || cp == 0x2028 || cp == 0x2029;
}

// The code point of the valid `n`-byte UTF-8 sequence at s[i].
uint32_t CodePoint(std::string_view s, size_t i, size_t n) {
  static constexpr uint8_t kLeadMask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  uint32_t cp = static_cast<uint8_t>(s[i]) & kLeadMask[n];
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3F);
  return cp;
}

}  // namespace

std::string SanitizeFilename(std::string_view name) {
  if (size_t slash = name.find_last_of("/\\"); slash != std::string_view::npos) {
    name.remove_prefix(slash + 1);
  }
  std::string out;
  for (size_t i = 0; i < name.size();) {
    size_t n = Utf8Length(name, i);
    if (n == 0) {  // invalid byte: dropped
      ++i;
      continue;
    }
    const auto c = static_cast<uint8_t>(name[i]);
    const bool control = n == 1 && (c < 0x20 || c == 0x7F);
    const bool c1_control =
        n == 2 && c == 0xC2 && static_cast<uint8_t>(name[i + 1]) < 0xA0;
    if (!control && !c1_control && !Invisible(CodePoint(name, i, n))) {
      if (out.size() + n > kMaxBytes) break;
      out.append(name.substr(i, n));
    }
    i += n;
  }
  while (!out.empty() && (out.front() == ' ' || out.front() == '.')) out.erase(0, 1);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out.empty() ? "document" : out;
}

}  // namespace docshare
