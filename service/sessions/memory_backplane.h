#ifndef DOCSHARE_SESSIONS_MEMORY_BACKPLANE_H_
#define DOCSHARE_SESSIONS_MEMORY_BACKPLANE_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "service/common/clock.h"
#include "service/common/observer.h"
#include "service/sessions/backplane.h"

namespace docshare {

// Everything in this process: the embedded default, one replica.
class MemoryBackplane final : public Backplane {
 public:
  MemoryBackplane(const Clock& clock, SessionCaps caps, Observer& observer);
  ~MemoryBackplane() override;

  absl::StatusOr<SessionInfo> Start(const SessionSettings& settings) override;
  absl::StatusOr<SessionInfo> Get(std::string_view id) override;
  absl::StatusOr<uint32_t> End(std::string_view id, std::string_view reason) override;
  absl::StatusOr<EventPtr> Append(std::string_view id,
                                  std::shared_ptr<const Document> document) override;
  absl::StatusOr<Subscribed> Subscribe(std::string_view id, uint64_t after_sequence,
                                       Subscriber* subscriber) override;
  void ExpireDue() override;

  // Preview bytes held by all sessions (for tests and the metric).
  uint64_t retained_bytes() const;

 private:
  struct Session;
  struct Entry;  // one subscriber's registration
  class LiveSubscription;

  // Lock order: mu_, then a Session's mu, then stats_mu_. Subscribers are
  // called with none of them held (see Session::Deliver), so a subscriber
  // may call back into the backplane or drop its Subscription from OnEvent.
  absl::StatusOr<std::shared_ptr<Session>> Lookup(std::string_view id) const;
  // With the session's mu held. Return true when they appended an event
  // that still has to be delivered.
  bool ExpireIfDueLocked(Session& session, absl::Time now);
  uint32_t EndLocked(Session& session, std::string_view reason, SessionState state,
                     absl::Time now);
  absl::Status ReserveBytes(uint64_t bytes);
  void ReleaseBytes(uint64_t bytes);
  void ChangeActive(int64_t delta);

  const Clock& clock_;
  const SessionCaps caps_;
  Observer& observer_;
  mutable std::mutex mu_;  // guards sessions_
  std::map<std::string, std::shared_ptr<Session>, std::less<>> sessions_;
  mutable std::mutex stats_mu_;  // guards retained_bytes_ and active_sessions_
  uint64_t retained_bytes_ = 0;
  int64_t active_sessions_ = 0;
};

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_MEMORY_BACKPLANE_H_
