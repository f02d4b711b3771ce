#ifndef DOCSHARE_SESSIONS_SESSION_HUB_H_
#define DOCSHARE_SESSIONS_SESSION_HUB_H_

// This replica's watchers of every session, one class for both stores: the
// memory store hands it each event as it appends it, the Redis store each
// event its Pub/Sub connection announces.
//
// The seam. A watch is registered before its replay is read and holds what
// is offered to it until Ready() names the start (nonce) and the last
// sequence the replay covered. From then on its subscriber is handed the
// events of that start with sequence last+1, last+2, ... once each, in
// order. An event below that is a duplicate of the replay and is dropped,
// an event of another start too. An event past it means the feed missed
// some (a Pub/Sub reconnect): the gap is read from the store's log first.
//
// Delivery happens with no lock held. Each watch drains its own inbox on
// whichever thread offered to it while nobody else was draining it; a
// thread that offers meanwhile leaves its event to that drainer, so a
// publisher never waits for another's fan-out. Cancelling (destroying the
// Subscription) waits for a delivery in progress on another thread and
// returns at once from inside OnEvent. A watch that was handed its
// SessionEnded, or told the backplane is lost, is done and leaves the hub.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "service/common/observer.h"
#include "service/sessions/session_store.h"

namespace docshare {

// Owned by a shared_ptr: each Subscription keeps the hub alive.
class SessionHub : public std::enable_shared_from_this<SessionHub> {
 public:
  // Reads a start's logged events with sequences from..to (to = max: the
  // end of the log), for gaps and catch-ups.
  using Fill = std::function<absl::StatusOr<std::vector<EventPtr>>(
      const std::string& id, const std::string& nonce, uint64_t from, uint64_t to)>;

  // `fill` is empty when the feed never skips (the memory store): a gap is
  // then an anomaly, counted. `last_gone` is told (no lock held) when the
  // last watch of a session here leaves.
  SessionHub(Fill fill, std::function<void(const std::string& id)> last_gone,
             Observer& observer);
  ~SessionHub();
  SessionHub(const SessionHub&) = delete;
  SessionHub& operator=(const SessionHub&) = delete;

  class Watch;

  // A watch of `id`, holding what is offered until Ready.
  std::shared_ptr<Watch> Register(std::string id, Subscriber* subscriber)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The replay covered start `nonce` up to `last`. What was held is handed
  // on now; if the feed was down or reconnected since Register, the watch
  // also reads the log from last+1 (what it may have missed).
  void Ready(const std::shared_ptr<Watch>& watch, std::string nonce, uint64_t last)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Register and Ready at once, for a store that takes its replay and
  // registers under one lock (nothing can fall between the two).
  std::shared_ptr<Watch> RegisterReady(std::string id, Subscriber* subscriber,
                                       std::string nonce, uint64_t last)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The watch as the subscriber holds it: destroying it cancels.
  std::unique_ptr<Subscription> Live(std::shared_ptr<Watch> watch);
  // A watch whose subscribe failed: it leaves without a word.
  void Drop(const std::shared_ptr<Watch>& watch) ABSL_LOCKS_EXCLUDED(mu_);

  // An event of start `nonce` of `id`. One feed offers a session's events
  // in sequence order.
  void Publish(const std::string& id, const std::string& nonce, const EventPtr& event)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The feed's state. Going up after being down: every watch reads the log
  // from its next sequence on (what was published meanwhile). Going down:
  // nothing is said to watches (a blip; see LoseAll).
  void SetFeed(bool up) ABSL_LOCKS_EXCLUDED(mu_);
  // The feed is gone for good: every watch is told (OnBackplaneLost), so its
  // client resumes elsewhere, and leaves.
  void LoseAll() ABSL_LOCKS_EXCLUDED(mu_);

  bool Watched(std::string_view id) const ABSL_LOCKS_EXCLUDED(mu_);
  uint32_t CountOf(std::string_view id) const ABSL_LOCKS_EXCLUDED(mu_);
  // Watches per session.
  std::map<std::string, uint64_t> Counts() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class LiveWatch;
  struct Item;

  void Offer(const std::shared_ptr<Watch>& watch, Item item);
  // Hands the watch's inbox to its subscriber, unless another thread is.
  void Drain(const std::shared_ptr<Watch>& watch);
  void Cancel(const std::shared_ptr<Watch>& watch);
  void Remove(const std::shared_ptr<Watch>& watch) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::shared_ptr<Watch>> All() const ABSL_LOCKS_EXCLUDED(mu_);

  const Fill fill_;
  const std::function<void(const std::string&)> last_gone_;
  Observer& observer_;
  mutable absl::Mutex mu_;
  std::multimap<std::string, std::shared_ptr<Watch>, std::less<>> watches_
      ABSL_GUARDED_BY(mu_);
  bool feed_up_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;  // bumped each time the feed comes up
};

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_SESSION_HUB_H_
