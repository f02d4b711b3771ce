// gRPC runs a reactor's callbacks one after another, each perhaps on another
// of its threads, ordered by its own synchronization. Debian's gRPC is not
// built with ThreadSanitizer, which therefore cannot see that order, and would
// report the reactor's own fields as racing between two callbacks. Under TSan
// these two calls state the order; otherwise they compile to nothing.
//
// A reactor calls HandOff(this) before each call that lets gRPC run a callback
// (StartRead, StartWrite, StartSendInitialMetadata, Finish) and TakeOver(this)
// first thing in each callback (OnReadDone, OnWriteDone, OnCancel, OnDone).
#pragma once

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DOCSHARE_TSAN_HANDOFF 1
#endif
#endif

#ifdef DOCSHARE_TSAN_HANDOFF
#include <sanitizer/tsan_interface.h>
#endif

namespace docshare {

#ifdef DOCSHARE_TSAN_HANDOFF
inline void HandOff(const void* reactor) { __tsan_release(const_cast<void*>(reactor)); }
inline void TakeOver(const void* reactor) { __tsan_acquire(const_cast<void*>(reactor)); }
#else
inline void HandOff(const void*) {}
inline void TakeOver(const void*) {}
#endif

}  // namespace docshare
