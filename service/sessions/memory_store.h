#ifndef DOCSHARE_SESSIONS_MEMORY_STORE_H_
#define DOCSHARE_SESSIONS_MEMORY_STORE_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "service/common/clock.h"
#include "service/common/observer.h"
#include "service/sessions/session_hub.h"
#include "service/sessions/session_store.h"

namespace docshare {

// Everything in this process: the embedded default, one replica.
class MemoryStore final : public SessionStore {
 public:
  MemoryStore(const Clock& clock, SessionCaps caps, Observer& observer);
  ~MemoryStore() override;

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
  absl::StatusOr<std::shared_ptr<const Document>> ReadDocument(
      std::string_view id, std::string_view nonce, uint64_t sequence) override;
  void ExpireDue() override;

  // Preview bytes held by all sessions (for tests and the metric).
  uint64_t retained_bytes() const;

 private:
  struct Session;

  // Lock order: mu_, then a Session's mu, then stats_mu_ or the hub's.
  // Subscribers are called with none of them held (see Session::Deliver),
  // so a subscriber may call back into the backplane or drop its
  // Subscription from OnEvent.
  absl::StatusOr<std::shared_ptr<Session>> Lookup(std::string_view id) const
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ReserveBytes(uint64_t bytes) ABSL_LOCKS_EXCLUDED(stats_mu_);
  void ReleaseBytes(uint64_t bytes) ABSL_LOCKS_EXCLUDED(stats_mu_);
  void ChangeActive(int64_t delta) ABSL_LOCKS_EXCLUDED(stats_mu_);

  const Clock& clock_;
  const SessionCaps caps_;
  Observer& observer_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Session>, std::less<>> sessions_
      ABSL_GUARDED_BY(mu_);
  mutable absl::Mutex stats_mu_ ABSL_ACQUIRED_AFTER(mu_);
  uint64_t retained_bytes_ ABSL_GUARDED_BY(stats_mu_) = 0;
  int64_t active_sessions_ ABSL_GUARDED_BY(stats_mu_) = 0;
  // This process's watchers; subscriptions share it, so they may outlive
  // the backplane.
  const std::shared_ptr<SessionHub> hub_;
};

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_MEMORY_STORE_H_
