// Makes Debian's abseil Mutex and CondVar visible to ThreadSanitizer.
//
// libabsl_synchronization is not built with -fsanitize=thread, so TSan sees
// none of its locking: every variable an absl::Mutex guards looks racy, and so
// does the Condition a waiter leaves on its stack for the unlocking thread to
// evaluate. abseil built with TSan tells the runtime about each lock with the
// mutex annotations (ABSL_TSAN_MUTEX_PRE_LOCK, ... in mutex.cc). This file does
// the same from outside: linked into the TSan test executables only, it
// interposes the Mutex and CondVar entry points (the executable's definitions
// win over the library's, for our code and for gRPC's), annotates, and calls
// the library's own definition found with dlsym(RTLD_NEXT).
//
// Between a pre_ and a post_ annotation TSan ignores the thread's memory
// accesses, as it does inside an instrumented abseil: a condition another
// thread evaluates while unlocking is the lock's business, not a race.
#include <sanitizer/tsan_interface.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/tsan/interpose.h"

namespace {

using docshare::tsan::Next;

constexpr unsigned kRead = __tsan_mutex_read_lock;

// abseil's entry points call one another (AwaitWithTimeout calls
// AwaitWithDeadline, through the interposed symbol): only the outermost call
// on a thread is annotated.
thread_local int depth = 0;

template <typename Call>
auto Inside(Call call) {
  ++depth;
  auto result = call();
  --depth;
  return result;
}

// `call` returns whether the lock was taken (always, unless `flags` has
// __tsan_mutex_try_lock).
template <typename Call>
auto Locking(void* mu, unsigned flags, Call call) {
  if (depth > 0) return call();
  __tsan_mutex_pre_lock(mu, flags);
  const auto taken = Inside(call);
  __tsan_mutex_post_lock(mu, taken ? flags : flags | __tsan_mutex_try_lock_failed, 0);
  return taken;
}

template <typename Call>
void Unlocking(void* mu, unsigned flags, Call call) {
  if (depth > 0) return call();
  __tsan_mutex_pre_unlock(mu, flags);
  ++depth;
  call();
  --depth;
  __tsan_mutex_post_unlock(mu, flags);
}

// The lock is released while waiting, then held again.
template <typename Call>
auto Waiting(void* mu, Call call) {
  if (depth > 0) return call();
  __tsan_mutex_pre_unlock(mu, 0);
  __tsan_mutex_post_unlock(mu, 0);
  __tsan_mutex_pre_lock(mu, 0);
  const auto result = Inside(call);
  __tsan_mutex_post_lock(mu, 0, 0);
  return result;
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

using MutexFn = void (*)(Mutex*);
using TryFn = bool (*)(Mutex*);
using CondFn = void (*)(Mutex*, const Condition&);
using CondTimeoutFn = bool (*)(Mutex*, const Condition&, Duration);
using CondDeadlineFn = bool (*)(Mutex*, const Condition&, Time);

void Mutex::Lock() {
  static const auto next = Next<MutexFn>(&Mutex::Lock);
  Locking(this, 0, [&] { return next(this), true; });
}

void Mutex::ReaderLock() {
  static const auto next = Next<MutexFn>(&Mutex::ReaderLock);
  Locking(this, kRead, [&] { return next(this), true; });
}

bool Mutex::TryLock() {
  static const auto next = Next<TryFn>(&Mutex::TryLock);
  return Locking(this, __tsan_mutex_try_lock, [&] { return next(this); });
}

bool Mutex::ReaderTryLock() {
  static const auto next = Next<TryFn>(&Mutex::ReaderTryLock);
  return Locking(this, __tsan_mutex_try_read_lock, [&] { return next(this); });
}

void Mutex::Unlock() {
  static const auto next = Next<MutexFn>(&Mutex::Unlock);
  Unlocking(this, 0, [&] { next(this); });
}

void Mutex::ReaderUnlock() {
  static const auto next = Next<MutexFn>(&Mutex::ReaderUnlock);
  Unlocking(this, kRead, [&] { next(this); });
}

void Mutex::LockWhen(const Condition& cond) {
  static const auto next = Next<CondFn>(&Mutex::LockWhen);
  Locking(this, 0, [&] { return next(this, cond), true; });
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto next = Next<CondFn>(&Mutex::ReaderLockWhen);
  Locking(this, kRead, [&] { return next(this, cond), true; });
}

// The timed forms return holding the lock whether or not the condition held.
bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto next = Next<CondTimeoutFn>(&Mutex::LockWhenWithTimeout);
  bool met = false;
  Locking(this, 0, [&] { return met = next(this, cond, timeout), true; });
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto next = Next<CondDeadlineFn>(&Mutex::LockWhenWithDeadline);
  bool met = false;
  Locking(this, 0, [&] { return met = next(this, cond, deadline), true; });
  return met;
}

void Mutex::Await(const Condition& cond) {
  static const auto next = Next<CondFn>(&Mutex::Await);
  Waiting(this, [&] { return next(this, cond), true; });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static const auto next = Next<CondTimeoutFn>(&Mutex::AwaitWithTimeout);
  return Waiting(this, [&] { return next(this, cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static const auto next = Next<CondDeadlineFn>(&Mutex::AwaitWithDeadline);
  return Waiting(this, [&] { return next(this, cond, deadline); });
}

using WaitFn = void (*)(CondVar*, Mutex*);
using WaitTimeoutFn = bool (*)(CondVar*, Mutex*, Duration);
using WaitDeadlineFn = bool (*)(CondVar*, Mutex*, Time);

void CondVar::Wait(Mutex* mu) {
  static const auto next = Next<WaitFn>(&CondVar::Wait);
  Waiting(mu, [&] { return next(this, mu), true; });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static const auto next = Next<WaitTimeoutFn>(&CondVar::WaitWithTimeout);
  return Waiting(mu, [&] { return next(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static const auto next = Next<WaitDeadlineFn>(&CondVar::WaitWithDeadline);
  return Waiting(mu, [&] { return next(this, mu, deadline); });
}

ABSL_NAMESPACE_END
}  // namespace absl
