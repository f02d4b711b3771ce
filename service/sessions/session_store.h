#ifndef DOCSHARE_SESSIONS_SESSION_STORE_H_
#define DOCSHARE_SESSIONS_SESSION_STORE_H_

// Storage and fan-out behind the session log. MemoryStore is the
// embedded default (one replica); a Redis one shares sessions across
// replicas.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
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
  int max_documents = 200;                    // per session
  uint64_t max_session_bytes = 512ull << 20;  // previews per session
  uint64_t max_retained_bytes = 1ull << 30;   // previews in all sessions
  // Redis: decoded replays kept for this replica's watchers (ReplayCache).
  uint64_t replay_cache_bytes = 64ull << 20;
};

// A session as GetSession shows it.
struct SessionSnapshot {
  SessionInfo info;
  uint64_t last_sequence = 0;
  struct Shared {
    uint64_t sequence = 0;  // of its DocumentShared (preview URLs name it)
    std::shared_ptr<const Document> document;
  };
  std::vector<Shared> documents;  // still shared (not withdrawn), in order
  // Live subscriptions, all replicas together (Redis: as each replica last
  // reported, at most 10 s old).
  uint32_t watchers = 0;
};

// Called on every replica when a document is withdrawn, with the SHA-256s of
// its previews, so caches of rendered previews drop them. Must not block.
using PurgeListener = std::function<void(const std::vector<std::string>& preview_sha256)>;

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

// Asynchronous: a caller never calls the methods below from a gRPC callback
// thread or the HTTP event loop, but hands the calls, and what completes
// them, to Dispatch:
//
//   if (!store.Dispatch([=] { reactor->Finish(Grpc(store.End(id, why))); }))
//     reactor->Finish(Grpc(StoreBusy()));
//
// The memory store runs the call at once on the calling thread (its methods
// take short locks and do no I/O); the Redis store queues it on its own
// threads (StoreThreads), where the round trips wait. The completion, the
// reactor or exchange resuming, is the callback's last step. A request's
// several store calls (authorize, then mutate) are one dispatched call, in
// order, with no callback nesting.
class SessionStore {
 public:
  virtual ~SessionStore() = default;

  // Runs `call` where this store's calls may wait (above). False when too
  // many calls are waiting: `call` never runs, and the caller answers
  // StoreBusy() (gRPC) or 503 (HTTP). Never blocks.
  virtual bool Dispatch(std::function<void()> call) {
    call();
    return true;
  }
  // Runs what is dispatched and waiting, then refuses (Dispatch false):
  // called when the server has stopped, before what the calls touch goes.
  virtual void FinishCalls() {}

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
  virtual absl::StatusOr<uint32_t> End(std::string_view id, std::string_view reason) = 0;

  // Appends a DocumentShared with the next sequence number and fans it out,
  // if the session is still the start of `id` that minted `nonce`
  // (compare-and-append: an upload authorized before the id was ended and
  // started again never lands in the new session; FAILED_PRECONDITION).
  // NOT_FOUND / FAILED_PRECONDITION as End; per-session caps:
  // FAILED_PRECONDITION; the global retained-bytes cap: RESOURCE_EXHAUSTED.
  // The caps are checked before `document` is accepted.
  virtual absl::StatusOr<EventPtr> Append(std::string_view id, std::string_view nonce,
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

  // Withdraws a document of an active session: its DocumentShared stays in
  // the log (no gap) but without previews or filename, the preview bytes are
  // released, DocumentWithdrawn{document_id, by} is appended and fanned out,
  // and the purge listener hears of it on every replica. Only the role that
  // shared it, or kAdmin: PERMISSION_DENIED. Already withdrawn: OK and
  // nullptr (no second event). Unknown document: NOT_FOUND; session errors
  // as End.
  virtual absl::StatusOr<EventPtr> Withdraw(std::string_view id,
                                            std::string_view document_id, Role by) = 0;

  // Appends DocumentAcknowledged once per (document, role, acknowledgement);
  // a repeat is OK and nullptr. Unknown document NOT_FOUND; a withdrawn one
  // FAILED_PRECONDITION; session errors as End.
  virtual absl::StatusOr<EventPtr> Acknowledge(std::string_view id,
                                               std::string_view document_id, Role by,
                                               Acknowledgement acknowledgement) = 0;

  // The session's state, its last sequence, the documents still shared and
  // the watcher count. NOT_FOUND as Get; an ended or expired session is a
  // snapshot with no documents.
  virtual absl::StatusOr<SessionSnapshot> Snapshot(std::string_view id) = 0;

  // Set once, before the backplane serves.
  void SetPurgeListener(PurgeListener listener) ABSL_LOCKS_EXCLUDED(purge_mu_) {
    absl::MutexLock lock(&purge_mu_);
    purge_ = std::move(listener);
  }
  // The document shared at `sequence` of the start `nonce` of `id`, previews
  // included: what a preview URL names (an HTTP fetch, on any replica).
  // NOT_FOUND: unknown id, another start, or no DocumentShared there;
  // FAILED_PRECONDITION: ended or expired (its previews are purged).
  virtual absl::StatusOr<std::shared_ptr<const Document>> ReadDocument(
      std::string_view id, std::string_view nonce, uint64_t sequence) = 0;

  // Expires sessions whose TTL has passed (SessionEnded{"expired"}) and
  // forgets ids ended long enough ago. Called by a timer and by tests.
  virtual void ExpireDue() = 0;

  // Whether the backplane can serve (Redis reachable); memory: always.
  virtual bool Healthy() { return true; }

 protected:
  void NotifyPurge(const std::vector<std::string>& preview_sha256)
      ABSL_LOCKS_EXCLUDED(purge_mu_) {
    PurgeListener listener;
    {
      absl::MutexLock lock(&purge_mu_);
      listener = purge_;
    }
    if (listener && !preview_sha256.empty()) listener(preview_sha256);
  }

 private:
  absl::Mutex purge_mu_;
  PurgeListener purge_ ABSL_GUARDED_BY(purge_mu_);
};

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_SESSION_STORE_H_
