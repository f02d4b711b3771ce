#include "service/pipeline/preview_cache.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "service/pipeline/sha256.h"

namespace docshare {
namespace {

uint64_t SizeOf(const Renditions& r) {
  uint64_t total = 0;
  for (const Preview* p : {&r.display, &r.thumbnail})
    total += p->data ? p->data->size() : 0;
  return total;
}

}  // namespace

std::string PreviewCache::Key(std::string_view bytes) { return Sha256Hex(bytes); }

std::string PreviewCache::KeyFor(std::string_view session, std::string_view bytes) const {
  std::string key = Key(bytes);
  if (scope_ == CacheScope::kSession) {
    // A hex digest has no '/': the session part cannot be forged into another's.
    key = absl::StrCat(std::string(session), "/", key);
  }
  return key;
}

std::optional<Renditions> PreviewCache::Get(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;  // shares the preview bytes, copies no pixels
}

void PreviewCache::Put(const std::string& key, const Renditions& renditions) {
  const uint64_t size = SizeOf(renditions);
  absl::MutexLock lock(&mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= SizeOf(it->second->second);
    lru_.erase(it->second);
    index_.erase(it);
  }
  if (size > max_bytes_) return;  // would evict everything and still not fit
  while (bytes_ + size > max_bytes_ && !lru_.empty()) {
    bytes_ -= SizeOf(lru_.back().second);
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  lru_.emplace_front(key, renditions);
  index_[key] = lru_.begin();
  bytes_ += size;
}

size_t PreviewCache::ErasePreviews(const std::vector<std::string>& sha256) {
  auto named = [&](const Preview& p) {
    return !p.sha256.empty() &&
           std::find(sha256.begin(), sha256.end(), p.sha256) != sha256.end();
  };
  absl::MutexLock lock(&mu_);
  size_t erased = 0;
  for (auto it = lru_.begin(); it != lru_.end();) {
    if (named(it->second.display) || named(it->second.thumbnail)) {
      bytes_ -= SizeOf(it->second);
      index_.erase(it->first);
      it = lru_.erase(it);
      ++erased;
    } else {
      ++it;
    }
  }
  return erased;
}

uint64_t PreviewCache::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace docshare
