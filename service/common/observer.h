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

enum class LogLevel { kDebug, kInfo, kWarn, kError };

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
  virtual void ShareDone(FileType /*type*/, RejectReason /*reason*/, bool /*accepted*/,
                         absl::Duration /*took*/) {}
  virtual void PreviewBytes(uint64_t /*bytes*/) {}
  virtual void CacheLookup(bool /*hit*/) {}
  virtual void RenderQueue(int /*depth*/, int /*in_flight*/) {}
  virtual void RenderShed() {}
  // A render worker process was killed or died. `reason` is "crashed" (died
  // during a share: a decoder crash, abort or out of memory), "timeout"
  // (killed after --render-timeout), "protocol" (a frame over the size limit),
  // "bad_reply" (an answer the server refuses: render_wire.h, worker_reply.h),
  // "start" (did not start) or "idle" (died between shares).
  virtual void RenderWorkerLost(std::string_view /*reason*/) {}
  // The same loss, for the log: the worker's pid and how it ended ("killed
  // by signal 9 (Killed)").
  virtual void RenderWorkerEnded(int /*pid*/, std::string_view /*reason*/,
                                 std::string_view /*how*/) {}
  // One line a worker wrote to its stderr (or stdout), at `level`, while
  // rendering `document_id` (empty when idle or unknown).
  virtual void RenderWorkerOutput(int /*pid*/, LogLevel /*level*/,
                                  std::string_view /*line*/,
                                  std::string_view /*document_id*/) {}

  // Admission (issue 12): a call refused by a budget or a cap before it
  // costs anything. `limit` is "inflight_upload_bytes", "session_watchers",
  // "token_watchers", "check_file_rate" or "share_rate".
  virtual void AdmissionRefused(std::string_view /*limit*/) {}
  // The HTTP/2 frame guard closed a client connection: `limit` is
  // "header_block" or "resets" (transport/h2_guard.h).
  virtual void Http2ConnectionClosed(std::string_view /*limit*/) {}
  virtual void InflightUploadBytes(uint64_t /*bytes*/) {}

  // Sessions.
  virtual void SessionsActive(int64_t /*count*/) {}
  virtual void WatchersActive(int64_t /*delta*/) {}
  virtual void RetainedPreviewBytes(int64_t /*bytes*/) {}
  virtual void EventDelivered(absl::Duration /*since_publish*/) {}
  virtual void WatcherOverflow() {}
  virtual void SessionExpired(std::string_view /*session_id*/) {}
  // A document was withdrawn (its DocumentWithdrawn appended; not a repeat).
  virtual void DocumentWithdrawn() {}
  // A DocumentAcknowledged was appended (not a repeat).
  virtual void DocumentAcknowledged(Acknowledgement /*acknowledgement*/) {}
  // The backplane's connection changed (and once at start): `address` is
  // where it connects (never a secret), `why` the error when unreachable.
  virtual void BackplaneReachable(std::string_view /*address*/, bool /*reachable*/,
                                  std::string_view /*why*/) {}
  // A "can't happen" of the sessions layer, never swallowed: `what` is one
  // of kSessionAnomalies, `detail` says which session or entry.
  virtual void SessionAnomaly(std::string_view /*what*/, std::string_view /*detail*/) {}

  // Logs.
  virtual void ShareRecorded(const ShareRecord& /*record*/) {}
};

// SessionAnomaly's `what`: a malformed Pub/Sub announcement, an undecodable
// log entry, a failed expiry script, a reply not shaped as the script
// returns it, an accounting counter that would go below zero, an event
// offered to the memory store's hub past a watcher's next sequence, an event
// handed to a watcher that it already queued (or a null one).
inline constexpr std::string_view kSessionAnomalies[] = {
    "malformed_announcement", "undecodable_entry", "expiry_failed",    "unexpected_reply",
    "accounting_underflow",   "hub_gap",           "watcher_duplicate"};

class NullObserver final : public Observer {};

// Reports to several observers (metrics and logs).
class ObserverTee final : public Observer {
 public:
  ObserverTee(Observer& a, Observer& b) : a_(a), b_(b) {}
  void BytesReceived(uint64_t n) override {
    a_.BytesReceived(n);
    b_.BytesReceived(n);
  }
  void StageDone(std::string_view s, absl::Duration d) override {
    a_.StageDone(s, d);
    b_.StageDone(s, d);
  }
  void ShareDone(FileType t, RejectReason r, bool ok, absl::Duration d) override {
    a_.ShareDone(t, r, ok, d);
    b_.ShareDone(t, r, ok, d);
  }
  void PreviewBytes(uint64_t n) override {
    a_.PreviewBytes(n);
    b_.PreviewBytes(n);
  }
  void CacheLookup(bool hit) override {
    a_.CacheLookup(hit);
    b_.CacheLookup(hit);
  }
  void RenderQueue(int depth, int busy) override {
    a_.RenderQueue(depth, busy);
    b_.RenderQueue(depth, busy);
  }
  void RenderShed() override {
    a_.RenderShed();
    b_.RenderShed();
  }
  void RenderWorkerLost(std::string_view r) override {
    a_.RenderWorkerLost(r);
    b_.RenderWorkerLost(r);
  }
  void RenderWorkerEnded(int pid, std::string_view r, std::string_view how) override {
    a_.RenderWorkerEnded(pid, r, how);
    b_.RenderWorkerEnded(pid, r, how);
  }
  void RenderWorkerOutput(int pid, LogLevel level, std::string_view line,
                          std::string_view document) override {
    a_.RenderWorkerOutput(pid, level, line, document);
    b_.RenderWorkerOutput(pid, level, line, document);
  }
  void AdmissionRefused(std::string_view l) override {
    a_.AdmissionRefused(l);
    b_.AdmissionRefused(l);
  }
  void Http2ConnectionClosed(std::string_view l) override {
    a_.Http2ConnectionClosed(l);
    b_.Http2ConnectionClosed(l);
  }
  void InflightUploadBytes(uint64_t n) override {
    a_.InflightUploadBytes(n);
    b_.InflightUploadBytes(n);
  }
  void SessionsActive(int64_t n) override {
    a_.SessionsActive(n);
    b_.SessionsActive(n);
  }
  void WatchersActive(int64_t d) override {
    a_.WatchersActive(d);
    b_.WatchersActive(d);
  }
  void RetainedPreviewBytes(int64_t n) override {
    a_.RetainedPreviewBytes(n);
    b_.RetainedPreviewBytes(n);
  }
  void EventDelivered(absl::Duration d) override {
    a_.EventDelivered(d);
    b_.EventDelivered(d);
  }
  void WatcherOverflow() override {
    a_.WatcherOverflow();
    b_.WatcherOverflow();
  }
  void SessionExpired(std::string_view id) override {
    a_.SessionExpired(id);
    b_.SessionExpired(id);
  }
  void DocumentWithdrawn() override {
    a_.DocumentWithdrawn();
    b_.DocumentWithdrawn();
  }
  void DocumentAcknowledged(Acknowledgement ack) override {
    a_.DocumentAcknowledged(ack);
    b_.DocumentAcknowledged(ack);
  }
  void BackplaneReachable(std::string_view address, bool up,
                          std::string_view why) override {
    a_.BackplaneReachable(address, up, why);
    b_.BackplaneReachable(address, up, why);
  }
  void SessionAnomaly(std::string_view what, std::string_view detail) override {
    a_.SessionAnomaly(what, detail);
    b_.SessionAnomaly(what, detail);
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
