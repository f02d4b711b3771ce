#ifndef DOCSHARE_COMMON_OBSERVER_H_
#define DOCSHARE_COMMON_OBSERVER_H_

// What the domain reports about its work. The metrics package implements it
// with Prometheus; domain code never sees a Prometheus type. Every hook has a
// no-op default so a test can pass `Observer{}`-like NullObserver.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "service/common/types.h"

namespace docshare {

// Everything the log says about one share that ended (accepted, rejected or
// failed).
struct ShareRecord {
  std::string session_id;
  std::string document_id;  // empty unless accepted
  std::string filename;     // sanitized
  FileType type = FileType::kUnknown;
  std::string mime;
  uint64_t bytes = 0;   // received from the uploader, a refused chunk included
  std::string outcome;  // "accepted", "rejected" or "failed"
  RejectReason reason = RejectReason::kNone;
  std::string message;  // the status message when not accepted
  absl::Duration sniff, guard, render, publish, total;
  bool cache_hit = false;
};

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
  // A render worker process was killed or died. `reason` is "crashed" (died
  // during a share: a decoder crash, abort or out of memory), "timeout"
  // (killed after --render-timeout), "protocol" (garbage on its socket),
  // "start" (did not start) or "idle" (died between shares).
  virtual void RenderWorkerLost(std::string_view /*reason*/) {}

  // Sessions.
  virtual void SessionsActive(int64_t /*count*/) {}
  virtual void WatchersActive(int64_t /*delta*/) {}
  virtual void RetainedPreviewBytes(int64_t /*bytes*/) {}
  virtual void EventDelivered(absl::Duration /*since_publish*/) {}
  virtual void WatcherOverflow() {}
  virtual void SessionExpired(std::string_view /*session_id*/) {}

  // Logs.
  virtual void ShareRecorded(const ShareRecord& /*record*/) {}
};

class NullObserver final : public Observer {};

// Reports to several observers (metrics and logs).
class ObserverTee final : public Observer {
 public:
  ObserverTee(Observer& a, Observer& b) : a_(a), b_(b) {}
  void BytesReceived(uint64_t n) override { a_.BytesReceived(n); b_.BytesReceived(n); }
  void StageDone(std::string_view s, absl::Duration d) override {
    a_.StageDone(s, d);
    b_.StageDone(s, d);
  }
  void ShareDone(FileType t, RejectReason r, bool ok, absl::Duration d) override {
    a_.ShareDone(t, r, ok, d);
    b_.ShareDone(t, r, ok, d);
  }
  void PreviewBytes(uint64_t n) override { a_.PreviewBytes(n); b_.PreviewBytes(n); }
  void CacheLookup(bool hit) override { a_.CacheLookup(hit); b_.CacheLookup(hit); }
  void RenderQueue(int depth, int busy) override {
    a_.RenderQueue(depth, busy);
    b_.RenderQueue(depth, busy);
  }
  void RenderShed() override { a_.RenderShed(); b_.RenderShed(); }
  void RenderWorkerLost(std::string_view r) override {
    a_.RenderWorkerLost(r);
    b_.RenderWorkerLost(r);
  }
  void SessionsActive(int64_t n) override { a_.SessionsActive(n); b_.SessionsActive(n); }
  void WatchersActive(int64_t d) override { a_.WatchersActive(d); b_.WatchersActive(d); }
  void RetainedPreviewBytes(int64_t n) override {
    a_.RetainedPreviewBytes(n);
    b_.RetainedPreviewBytes(n);
  }
  void EventDelivered(absl::Duration d) override { a_.EventDelivered(d); b_.EventDelivered(d); }
  void WatcherOverflow() override { a_.WatcherOverflow(); b_.WatcherOverflow(); }
  void SessionExpired(std::string_view id) override {
    a_.SessionExpired(id);
    b_.SessionExpired(id);
  }
  void ShareRecorded(const ShareRecord& r) override {
    a_.ShareRecorded(r);
    b_.ShareRecorded(r);
  }

 private:
  Observer& a_;
  Observer& b_;
};

}  // namespace docshare

#endif  // DOCSHARE_COMMON_OBSERVER_H_
