// Interposing a shared library's function in a TSan test executable: the
// executable defines the function (so every caller, the library's own included,
// reaches ours) and calls the library's definition, found here.
#pragma once

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace docshare::tsan {

// The next definition of `self` (ours: a function or a non-virtual member
// function) in the lookup order: found by our own symbol's name, so no mangled
// name is written by hand.
template <typename Fn, typename Self>
Fn Next(Self self) {
  void* ours = nullptr;
  static_assert(sizeof(self) >= sizeof(ours));
  std::memcpy(&ours, &self, sizeof(ours));  // Itanium ABI: the address comes first
  Dl_info info{};
  if (dladdr(ours, &info) == 0 || info.dli_sname == nullptr) {
    std::fprintf(stderr, "tsan interpose: an interposed function is not exported\n");
    std::abort();
  }
  void* next = dlsym(RTLD_NEXT, info.dli_sname);
  if (next == nullptr) {
    std::fprintf(stderr, "tsan interpose: %s has no next definition\n", info.dli_sname);
    std::abort();
  }
  return reinterpret_cast<Fn>(next);
}

}  // namespace docshare::tsan
