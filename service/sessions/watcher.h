#ifndef DOCSHARE_SESSIONS_WATCHER_H_
#define DOCSHARE_SESSIONS_WATCHER_H_

#include <cstdint>
#include <deque>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "service/common/observer.h"
#include "service/sessions/session_store.h"

namespace docshare {

// One watcher's queue: the replay first (pointers into the retained log,
// not bounded), then live events, bounded by `capacity`. When live events
// overflow, the watcher is marked overflowed and its writer should end the
// stream with the last sequence it delivered; the uploader and the other
// watchers never wait for it. A SessionEnded is queued even when the live
// queue is full (it is the last event, so the bound grows by at most one):
// a slow watcher still learns the session ended.
// The DocumentShared as it stands once its document is withdrawn: the same
// sequence and time, the document without previews or filename (what
// replays show, and what a queued copy becomes).
EventPtr WithoutPreviews(const SessionEvent& shared_event);

class Watcher final : public Subscriber {
 public:
  // `wake` is called (without the lock held) when an event or an overflow
  // arrives; it must not block. `observer` hears of events the hub should
  // never hand over (a null event, a sequence already queued): the anomaly
  // "watcher_duplicate", and the event is dropped.
  Watcher(size_t capacity, std::function<void()> wake, Observer& observer);

  void SetReplay(std::vector<EventPtr> replay);
  void OnEvent(EventPtr event) override;
  void OnBackplaneLost() override;

  // The next event to write, or nullptr when none is queued (or after
  // overflow: the writer then ends the stream).
  EventPtr Pop();
  bool overflowed() const;
  // The backplane was lost: the writer ends the stream with UNAVAILABLE.
  bool lost() const;
  // Sequence of the last event Pop returned (0 before any).
  uint64_t last_delivered() const;

 private:
  // A DocumentWithdrawn arrived: queued copies of that document lose their
  // previews, so a slow watcher is never sent bytes that were taken back.
  void PurgeQueued(const std::string& document_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Counts and drops an event that cannot be queued.
  void Anomaly(std::string_view detail, uint64_t sequence);

  const size_t capacity_;
  std::function<void()> wake_;
  Observer& observer_;
  mutable absl::Mutex mu_;
  std::deque<EventPtr> replay_ ABSL_GUARDED_BY(mu_);
  std::deque<EventPtr> live_ ABSL_GUARDED_BY(mu_);
  bool overflowed_ ABSL_GUARDED_BY(mu_) = false;
  bool lost_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t last_delivered_ ABSL_GUARDED_BY(mu_) = 0;
  // Highest sequence queued (replay or live). The hub starts live events
  // right after the replay, so anything at or below it is a can't-happen:
  // counted (Anomaly) and dropped.
  uint64_t last_queued_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_WATCHER_H_
