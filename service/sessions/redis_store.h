#ifndef DOCSHARE_SESSIONS_REDIS_STORE_H_
#define DOCSHARE_SESSIONS_REDIS_STORE_H_

// Sessions shared by many replicas through one Redis (hiredis, RESP2).
//
//   docshare:session:<id>          hash: nonce ttl cms exp state forget seq docs bytes
//   docshare:log:<id>:<nonce>      stream: one entry per event, ID "<seq>-1",
//                                  field "e" = EncodeEvent (previews inside)
//   docshare:events:<id>           Pub/Sub: "<nonce> <seq> <EncodeEvent>"
//   docshare:docs:<id>:<nonce>     hash: per document "<seq> <role> <bytes> <withdrawn>",
//                                  its previewless DocumentShared and preview SHA-256s
//   docshare:acks:<id>:<nonce>     set: "<document> <role> <acknowledgement>" seen
//   docshare:watchers:<id>         hash: replica -> "<live watchers> <unix ms>"
//   docshare:purge:<id>            Pub/Sub: a withdrawn document's preview SHA-256s
//   docshare:expiring / :forget    sorted sets: ids by expires_at / forget_at
//   docshare:retained / :active    global preview bytes / active sessions
//
// Every mutation is one Lua script (state, caps, sequence, XADD, PUBLISH in
// one atomic step), so exactly one replica appends each event, and lazy
// expiry appends SessionEnded{"expired"} exactly once. Times are the
// injected Clock's; Redis key TTLs are only a backstop for abandoned keys.
//
// Live fan-out: one Pub/Sub connection and thread per replica
// (PSUBSCRIBE docshare:events:*) hands events to local subscribers in
// sequence order. A subscriber is registered before its replay is read; a
// sequence gap (a message missed while disconnected) is filled from the
// stream, and every subscriber catches up from the stream after a
// reconnect, so a lost connection delays events but never loses one.
//
// The parts: redis_connection (a hiredis connection and the pool of idle
// ones), redis_scripts (the Lua scripts and their parsed replies),
// redis_pubsub.cc (the Pub/Sub loop), redis_names (channels, decoding);
// this file holds the store's calls. Callers' calls wait on the store's own
// threads (Dispatch), never on theirs.
//
// Connecting is lazy: the constructor returns at once, Healthy() is false
// until the Pub/Sub connection is up, and a background loop reconnects
// with backoff. Commands fail fast with UNAVAILABLE (1 s connect and
// command timeouts) while Redis is unreachable.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "service/common/clock.h"
#include "service/common/observer.h"
#include "service/sessions/redis_connection.h"
#include "service/sessions/redis_scripts.h"
#include "service/sessions/replay_cache.h"
#include "service/sessions/session_hub.h"
#include "service/sessions/session_store.h"
#include "service/sessions/store_threads.h"

namespace docshare {

// RedisStore::Dispatch's threads: as many as pooled connections are worth
// keeping busy, and a queue that absorbs a burst while Redis is slow.
struct RedisCallThreads {
  int threads = 8;
  size_t queue = 4096;
};

class RedisStore final : public SessionStore {
 public:
  RedisStore(RedisAddress address, const Clock& clock, SessionCaps caps,
             Observer& observer, RedisCallThreads call_threads = RedisCallThreads{});
  ~RedisStore() override;

  absl::StatusOr<SessionInfo> Start(const SessionSettings& settings) override;
  absl::StatusOr<SessionInfo> Get(std::string_view id) override;
  absl::StatusOr<uint32_t> End(std::string_view id, std::string_view reason) override;
  absl::StatusOr<EventPtr> Append(std::string_view id, std::string_view nonce,
                                  std::shared_ptr<const Document> document) override;
  absl::StatusOr<Subscribed> Subscribe(std::string_view id, uint64_t after_sequence,
                                       Subscriber* subscriber) override;
  absl::StatusOr<EventPtr> Withdraw(std::string_view id, std::string_view document_id,
                                    Role by) override;
  absl::StatusOr<EventPtr> Acknowledge(std::string_view id, std::string_view document_id,
                                       Role by, Acknowledgement acknowledgement) override;
  absl::StatusOr<SessionSnapshot> Snapshot(std::string_view id) override;
  // Also reports this replica's watcher counts (Snapshot's `watchers`).
  absl::StatusOr<std::shared_ptr<const Document>> ReadDocument(
      std::string_view id, std::string_view nonce, uint64_t sequence) override;
  void ExpireDue() override;
  bool Healthy() override;
  // On this store's threads (RedisCallThreads).
  bool Dispatch(std::function<void()> call) override;
  void FinishCalls() override;

  // Waits (bounded) until the Pub/Sub connection is up; for tests and
  // start-up logs.
  bool WaitHealthy(absl::Duration timeout);

 private:
  using Fetch = std::function<absl::StatusOr<std::vector<EventPtr>>(
      const std::string& id, const std::string& nonce, uint64_t from, uint64_t to)>;
  absl::StatusOr<ScriptReply> Script(RedisScript script, std::vector<std::string> args);
  // A reply not shaped as the script returns it: counted, then INTERNAL.
  absl::Status Unexpected(std::string_view what);
  // OK when `reply` is the script's OK with `values` values; otherwise
  // Unexpected (any other code is the caller's to have answered first).
  absl::Status ExpectOk(const ScriptReply& reply, size_t values, std::string_view call);
  // XRANGE of a session's log, sequences from..to (to = max: the end).
  Fetch FetchFunction();
  // The same through the replay cache (hub_->replay).
  Fetch CachedFetchFunction();
  // The Pub/Sub connection and its thread (redis_pubsub.cc).
  void PubSubLoop();
  void ReportWatchers(absl::Time now) ABSL_LOCKS_EXCLUDED(report_mu_);

  const RedisAddress address_;
  const Clock& clock_;
  const SessionCaps caps_;
  Observer& observer_;
  // Decoded log pages of the sessions watched here, shared by their watchers.
  const std::shared_ptr<ReplayCache> replay_;
  // This replica's watchers, fed from Pub/Sub.
  const std::shared_ptr<SessionHub> hub_;
  const std::string replica_;  // names this replica's watcher report
  absl::Mutex report_mu_;
  // Sessions with watchers here at the last report.
  std::vector<std::string> reported_ ABSL_GUARDED_BY(report_mu_);

  RedisPool pool_;  // commands and scripts

  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  // Written under stop_mu_ (WaitHealthy waits on it), read without.
  std::atomic<bool> subscribed_{false};
  int wake_[2] = {-1, -1};  // a pipe: written once to stop the Pub/Sub thread
  std::thread pubsub_;
  // Callers' dispatched calls; stopped (what is queued runs) first thing in
  // the destructor at the latest, while everything they use is still here.
  std::unique_ptr<StoreThreads> calls_;
};

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_REDIS_STORE_H_
