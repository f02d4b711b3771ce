#ifndef DOCSHARE_PIPELINE_PREVIEW_CACHE_H_
#define DOCSHARE_PIPELINE_PREVIEW_CACHE_H_

#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "service/pipeline/render.h"

namespace docshare {

// Rendered previews by SHA-256 of the original bytes, least recently used
// evicted first, bounded by the previews' total bytes. Thread-safe.
class PreviewCache {
 public:
  explicit PreviewCache(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // Hex SHA-256 (OpenSSL).
  static std::string Key(std::string_view bytes);

  std::optional<Renditions> Get(const std::string& key);
  void Put(const std::string& key, const Renditions& renditions);
  uint64_t bytes() const;

 private:
  using Entry = std::pair<std::string, Renditions>;
  const uint64_t max_bytes_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // front: most recent
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  uint64_t bytes_ = 0;
};

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_PREVIEW_CACHE_H_
