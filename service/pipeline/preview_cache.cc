#include "service/pipeline/preview_cache.h"

#include <openssl/evp.h>

#include <array>
#include <cstdlib>

namespace docshare {
namespace {

uint64_t SizeOf(const Renditions& r) {
  uint64_t total = 0;
  for (const Preview* p : {&r.display, &r.thumbnail}) total += p->data ? p->data->size() : 0;
  return total;
}

}  // namespace

std::string PreviewCache::Key(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(),
                 nullptr) != 1) {
    // A failing SHA-256 is a broken OpenSSL: no safe way to continue.
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

std::optional<Renditions> PreviewCache::Get(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;  // shares the preview bytes, copies no pixels
}

void PreviewCache::Put(const std::string& key, const Renditions& renditions) {
  const uint64_t size = SizeOf(renditions);
  std::lock_guard lock(mu_);
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

uint64_t PreviewCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace docshare
