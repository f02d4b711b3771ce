#ifndef DOCSHARE_COMMON_OBSERVER_H_
#define DOCSHARE_COMMON_OBSERVER_H_

// What the domain reports about its work. The metrics package implements it
// with Prometheus; domain code never sees a Prometheus type. Every hook has a
// no-op default so a test can pass `Observer{}`-like NullObserver.

#include <cstdint>
#include <string_view>

#include "absl/time/time.h"
#include "service/common/types.h"

namespace docshare {

class Observer {
 public:
  virtual ~Observer() = default;

  // Pipeline.
  virtual void BytesReceived(uint64_t /*bytes*/) {}
  // `stage` is "sniff", "guard", "render" or "publish".
  virtual void StageDone(std::string_view /*stage*/, absl::Duration /*took*/) {}
  // One per share that reached a verdict. `reason` is kNone when accepted.
  virtual void ShareDone(FileType /*type*/, RejectReason /*reason*/,
                         bool /*accepted*/, absl::Duration /*took*/) {}
  virtual void PreviewBytes(uint64_t /*bytes*/) {}
  virtual void CacheLookup(bool /*hit*/) {}
  virtual void RenderQueue(int /*depth*/, int /*in_flight*/) {}
  virtual void RenderShed() {}

  // Sessions.
  virtual void SessionsActive(int64_t /*count*/) {}
  virtual void WatchersActive(int64_t /*delta*/) {}
  virtual void RetainedPreviewBytes(int64_t /*bytes*/) {}
  virtual void EventDelivered(absl::Duration /*since_publish*/) {}
  virtual void WatcherOverflow() {}
};

class NullObserver final : public Observer {};

}  // namespace docshare

#endif  // DOCSHARE_COMMON_OBSERVER_H_
