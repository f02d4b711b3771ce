#ifndef DOCSHARE_SESSIONS_BACKPLANE_H_
#define DOCSHARE_SESSIONS_BACKPLANE_H_

// Storage and fan-out behind the session log. MemoryBackplane is the
// embedded default (one replica); a Redis one shares sessions across
// replicas.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/common/types.h"

namespace docshare {

struct SessionSettings {
  std::string id;
  absl::Duration ttl;
  bool consumer_may_share = false;
};

enum class SessionState { kActive, kEnded, kExpired };

struct SessionInfo {
  std::string id;
  std::string nonce;  // minted by Start; tokens carry it
  absl::Duration ttl;
  bool consumer_may_share = false;
  absl::Time expires_at;
  SessionState state = SessionState::kActive;
};

// Caps that protect the process's memory.
struct SessionCaps {
  int max_documents = 200;                        // per session
  uint64_t max_session_bytes = 512ull << 20;      // previews per session
  uint64_t max_retained_bytes = 1ull << 30;       // previews in all sessions
};

// A watcher. OnEvent is called in sequence order, from any thread, and must
// not block (it queues and wakes its writer).
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  virtual void OnEvent(EventPtr event) = 0;
  // The backplane can no longer deliver live events (Redis unreachable):
  // the watcher should end its stream so its client resumes, on this or
  // another replica, after the last sequence it received. Never blocks.
  virtual void OnBackplaneLost() {}
};

// Live delivery lasts as long as this object; destroying it unsubscribes
// (after which OnEvent is never called again).
class Subscription {
 public:
  virtual ~Subscription() = default;
};

class Backplane {
 public:
  virtual ~Backplane() = default;

  // Starts a session. An active session with the same settings: returns it
  // (same nonce). Different settings: ALREADY_EXISTS. An ended or expired
  // id starts a new session with a new nonce.
  virtual absl::StatusOr<SessionInfo> Start(const SessionSettings& settings) = 0;

  // NOT_FOUND for an id never started or forgotten; otherwise its info,
  // state included (ended and expired ids are remembered for at least
  // their TTL).
  virtual absl::StatusOr<SessionInfo> Get(std::string_view id) = 0;

  // Ends an active session: appends SessionEnded{reason}, tells watchers,
  // purges previews. Returns how many documents were purged.
  // NOT_FOUND unknown; FAILED_PRECONDITION already ended or expired.
  virtual absl::StatusOr<uint32_t> End(std::string_view id,
                                       std::string_view reason) = 0;

  // Appends a DocumentShared with the next sequence number and fans it out.
  // NOT_FOUND / FAILED_PRECONDITION as End; per-session caps:
  // FAILED_PRECONDITION; the global retained-bytes cap: RESOURCE_EXHAUSTED.
  // The caps are checked before `document` is accepted.
  virtual absl::StatusOr<EventPtr> Append(std::string_view id,
                                          std::shared_ptr<const Document> document) = 0;

  // Registers `subscriber` for live events and returns the logged events
  // with sequence > after_sequence (the replay). Live events start right
  // after the replay's last sequence: no gap and no duplicate at the seam.
  // OUT_OF_RANGE when after_sequence is beyond the log's end; an ended or
  // expired session: FAILED_PRECONDITION.
  struct Subscribed {
    std::vector<EventPtr> replay;
    std::unique_ptr<Subscription> live;
  };
  virtual absl::StatusOr<Subscribed> Subscribe(std::string_view id,
                                               uint64_t after_sequence,
                                               Subscriber* subscriber) = 0;

  // Expires sessions whose TTL has passed (SessionEnded{"expired"}) and
  // forgets ids ended long enough ago. Called by a timer and by tests.
  virtual void ExpireDue() = 0;

  // Whether the backplane can serve (Redis reachable); memory: always.
  virtual bool Healthy() { return true; }
};

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_BACKPLANE_H_
