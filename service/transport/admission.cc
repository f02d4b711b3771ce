#include "service/transport/admission.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace docshare {
namespace {

// Buckets of idle tokens are forgotten once there are this many (a full
// bucket is the same as none).
constexpr size_t kPruneBuckets = 10000;
constexpr double kBurstSeconds = 4;

}  // namespace

std::string TokenKey(const Caller& caller) {
  if (caller.admin) return "";
  return absl::StrCat(caller.claims.session_id, "/", caller.claims.nonce, "/",
                      std::string(RoleName(caller.claims.role)));
}

Admission::WatchSlot& Admission::WatchSlot::operator=(WatchSlot&& other) noexcept {
  if (this != &other) {
    if (admission_ != nullptr) admission_->Leave(session_id_, token_key_);
    admission_ = std::exchange(other.admission_, nullptr);
    session_id_ = std::move(other.session_id_);
    token_key_ = std::move(other.token_key_);
  }
  return *this;
}

Admission::WatchSlot::~WatchSlot() {
  if (admission_ != nullptr) admission_->Leave(session_id_, token_key_);
}

absl::StatusOr<Admission::WatchSlot> Admission::AdmitWatch(const std::string& session_id,
                                                           const std::string& token_key) {
  {
    absl::MutexLock lock(&mu_);
    int64_t& session = session_watchers_[session_id];
    if (limits_.max_session_watchers != 0 && session >= limits_.max_session_watchers) {
      if (session == 0) session_watchers_.erase(session_id);
      observer_.AdmissionRefused("session_watchers");
      return absl::ResourceExhaustedError(
          absl::StrCat("the session already has ", limits_.max_session_watchers,
                       " watch streams on this replica (--max-session-watchers)"));
    }
    if (!token_key.empty()) {
      int64_t& token = token_watchers_[token_key];
      if (limits_.max_token_watchers != 0 && token >= limits_.max_token_watchers) {
        if (token == 0) token_watchers_.erase(token_key);
        if (session == 0) session_watchers_.erase(session_id);
        observer_.AdmissionRefused("token_watchers");
        return absl::ResourceExhaustedError(
            absl::StrCat("this token already has ", limits_.max_token_watchers,
                         " watch streams open (--max-token-watchers)"));
      }
      ++token;
    }
    ++session;
  }
  WatchSlot slot;
  slot.admission_ = this;
  slot.session_id_ = session_id;
  slot.token_key_ = token_key;
  return slot;
}

void Admission::Leave(const std::string& session_id, const std::string& token_key) {
  absl::MutexLock lock(&mu_);
  auto drop = [](auto& counts, const std::string& key) {
    auto it = counts.find(key);
    if (it == counts.end()) return;
    if (--it->second <= 0) counts.erase(it);
  };
  drop(session_watchers_, session_id);
  if (!token_key.empty()) drop(token_watchers_, token_key);
}

absl::Status Admission::AllowCheckFile(const std::string& token_key) {
  absl::MutexLock lock(&mu_);
  return Take(check_buckets_, limits_.check_file_rate, token_key, "check_file_rate",
              "CheckFile calls (--token-check-file-rate)");
}

absl::Status Admission::AllowShare(const std::string& token_key) {
  absl::MutexLock lock(&mu_);
  return Take(share_buckets_, limits_.share_rate, token_key, "share_rate",
              "shares (--token-share-rate)");
}

absl::Status Admission::Take(Buckets& buckets, int64_t rate, const std::string& key,
                             std::string_view limit, std::string_view what) {
  if (rate == 0 || key.empty()) return absl::OkStatus();
  const absl::Time now = clock_.Now();
  const double capacity = std::max(1.0, kBurstSeconds * static_cast<double>(rate));
  if (buckets.size() >= kPruneBuckets) {
    absl::erase_if(buckets, [&](const auto& entry) {
      return entry.second.tokens +
                 absl::ToDoubleSeconds(now - entry.second.last) * rate >=
             capacity;
    });
  }
  auto [it, fresh] = buckets.try_emplace(key, Bucket{capacity, now});
  Bucket& bucket = it->second;
  if (!fresh) {
    const double refill = absl::ToDoubleSeconds(now - bucket.last) * rate;
    bucket.tokens = std::min(capacity, bucket.tokens + std::max(0.0, refill));
    bucket.last = now;
  }
  if (bucket.tokens < 1) {
    observer_.AdmissionRefused(limit);
    return absl::ResourceExhaustedError(absl::StrCat("this token makes more than ", rate,
                                                     " ", std::string(what),
                                                     " per second: retry shortly"));
  }
  bucket.tokens -= 1;
  return absl::OkStatus();
}

}  // namespace docshare
