#ifndef DOCSHARE_TRANSPORT_ADMISSION_H_
#define DOCSHARE_TRANSPORT_ADMISSION_H_

// Caps and rate limits decided before a call costs anything (issue 12,
// attack 6: 1000 WatchSession streams on one consumer token were all
// accepted; CheckFile and ShareDocument were unlimited per token). No gRPC
// type here: the reactors ask, and turn a refusal into RESOURCE_EXHAUSTED.
// The admin token (the co-browse backend, trusted) has no per-token limit;
// its watchers still count against their session's cap.

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "service/auth/tokens.h"
#include "service/common/clock.h"
#include "service/common/observer.h"

namespace docshare {

// Each 0 means no limit.
struct AdmissionLimits {
  int64_t max_session_watchers = 1000;  // live watch streams of one session
  int64_t max_token_watchers = 32;      // live watch streams of one token
  int64_t check_file_rate = 50;         // CheckFile calls per second per token
  int64_t share_rate = 2;               // ShareDocument calls per second per token
};

// Who a per-token limit applies to: a participant of one start of a session
// in one role (every token minted for it); empty for the admin.
std::string TokenKey(const Caller& caller);

class Admission {
 public:
  Admission(AdmissionLimits limits, const Clock& clock, Observer& observer)
      : limits_(limits), clock_(clock), observer_(observer) {}

  // A watch stream admitted; its place is given back when this is destroyed.
  class WatchSlot {
   public:
    WatchSlot() = default;
    WatchSlot(WatchSlot&& other) noexcept { *this = std::move(other); }
    WatchSlot& operator=(WatchSlot&& other) noexcept;
    ~WatchSlot();

   private:
    friend class Admission;
    Admission* admission_ = nullptr;
    std::string session_id_;
    std::string token_key_;
  };

  // RESOURCE_EXHAUSTED when the session or the token already has its most
  // watch streams.
  absl::StatusOr<WatchSlot> AdmitWatch(const std::string& session_id,
                                       const std::string& token_key);
  // RESOURCE_EXHAUSTED when the token calls faster than its rate. Each rate
  // is a token bucket: bursts of up to 4 seconds' worth, then the rate.
  absl::Status AllowCheckFile(const std::string& token_key);
  absl::Status AllowShare(const std::string& token_key);

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time last;
  };
  using Buckets = absl::flat_hash_map<std::string, Bucket>;
  absl::Status Take(Buckets& buckets, int64_t rate, const std::string& key,
                    std::string_view limit, std::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Leave(const std::string& session_id, const std::string& token_key);

  const AdmissionLimits limits_;
  const Clock& clock_;
  Observer& observer_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, int64_t> session_watchers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> token_watchers_ ABSL_GUARDED_BY(mu_);
  Buckets check_buckets_ ABSL_GUARDED_BY(mu_);
  Buckets share_buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace docshare

#endif  // DOCSHARE_TRANSPORT_ADMISSION_H_
