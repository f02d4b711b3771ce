#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "service/transport/services.h"

namespace docshare {

bool StreamSet::Add(Drainable* stream) {
  absl::MutexLock lock(&mu_);
  if (draining_) return false;
  streams_.insert(stream);
  return true;
}

void StreamSet::Remove(Drainable* stream) {
  absl::MutexLock lock(&mu_);
  auto not_ending = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return !ending_.has_value() || *ending_ == std::this_thread::get_id();
  };
  mu_.Await(absl::Condition(&not_ending));
  streams_.erase(stream);
}

bool StreamSet::BeginCall() {
  absl::MutexLock lock(&mu_);
  if (draining_) return false;
  ++calls_;
  return true;
}

void StreamSet::EndCall() {
  absl::MutexLock lock(&mu_);
  --calls_;
}

int StreamSet::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

bool StreamSet::WaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return streams_.empty() && calls_ == 0;
  };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

void StreamSet::Drain() {
  std::vector<Drainable*> streams;
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    // Concurrent Drain calls take turns.
    mu_.Await(absl::Condition(
        +[](std::optional<std::thread::id>* e) { return !e->has_value(); }, &ending_));
    ending_ = std::this_thread::get_id();
    streams.assign(streams_.begin(), streams_.end());
  }
  // No lock held: a stream ends itself (and may finish inline). Each pointer
  // stays alive until ending_ is cleared, since Remove waits for it.
  for (Drainable* stream : streams) stream->EndForDrain();
  absl::MutexLock lock(&mu_);
  ending_.reset();
}

absl::StatusOr<Caller> CallerOf(const grpc::CallbackServerContext& context,
                                const ServiceDeps& deps) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  std::string_view value;
  if (it != metadata.end())
    value = std::string_view(it->second.data(), it->second.size());
  return Authenticate(value, deps.admin_token, deps.tokens);
}

bool ValidSessionId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace docshare
