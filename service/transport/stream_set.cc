#include "service/transport/services.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace docshare {

bool StreamSet::Add(Drainable* stream) {
  std::lock_guard lock(mu_);
  if (draining_) return false;
  streams_.insert(stream);
  return true;
}

void StreamSet::Remove(Drainable* stream) {
  std::lock_guard lock(mu_);
  streams_.erase(stream);
  idle_.notify_all();
}

bool StreamSet::BeginCall() {
  std::lock_guard lock(mu_);
  if (draining_) return false;
  ++calls_;
  return true;
}

void StreamSet::EndCall() {
  std::lock_guard lock(mu_);
  --calls_;
  idle_.notify_all();
}

int StreamSet::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

bool StreamSet::WaitIdle(absl::Time deadline) {
  std::unique_lock lock(mu_);
  return idle_.wait_until(lock, absl::ToChronoTime(deadline),
                          [this] { return streams_.empty() && calls_ == 0; });
}

void StreamSet::Drain() {
  std::lock_guard lock(mu_);
  draining_ = true;
  // A stream removes itself only from OnDone, which needs our lock: every
  // pointer is alive until we let go, or until its own EndForDrain.
  const std::vector<Drainable*> streams(streams_.begin(), streams_.end());
  for (Drainable* stream : streams) stream->EndForDrain();
}

absl::StatusOr<Caller> CallerOf(const grpc::CallbackServerContext& context,
                                const ServiceDeps& deps) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  std::string_view value;
  if (it != metadata.end()) value = std::string_view(it->second.data(), it->second.size());
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
