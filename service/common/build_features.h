#ifndef DOCSHARE_COMMON_BUILD_FEATURES_H_
#define DOCSHARE_COMMON_BUILD_FEATURES_H_

// What this build's Debian packages can do, decided once by CMake.

// hiredis with hiredis_ssl (Debian 13's hiredis 1.2): rediss:// works. Debian
// 12's hiredis 0.14 has no TLS.
#ifndef DOCSHARE_REDIS_TLS
#define DOCSHARE_REDIS_TLS 0
#endif

// An ASan or TSan build: malloc is the sanitizer's, not glibc's, so glibc's
// heap thresholds (mallopt) mean nothing there.
#ifndef DOCSHARE_SANITIZER_ALLOCATOR
#define DOCSHARE_SANITIZER_ALLOCATOR 0
#endif

namespace docshare {

inline constexpr bool kRedisTlsAvailable = DOCSHARE_REDIS_TLS != 0;
inline constexpr bool kGlibcMalloc = DOCSHARE_SANITIZER_ALLOCATOR == 0;

}  // namespace docshare

#endif  // DOCSHARE_COMMON_BUILD_FEATURES_H_
