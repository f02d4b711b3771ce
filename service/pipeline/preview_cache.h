#ifndef DOCSHARE_PIPELINE_PREVIEW_CACHE_H_
#define DOCSHARE_PIPELINE_PREVIEW_CACHE_H_

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "service/pipeline/render.h"

namespace docshare {

// Who may reuse an entry. kSession (the default): only shares into the same
// session (the same start of it), so a participant cannot learn from the
// answer's latency whether byte-identical bytes were shared elsewhere
// (issue 12, attack 7). kGlobal: any session, for deployments that trust
// all their participants.
enum class CacheScope { kSession, kGlobal };

// Rendered previews by SHA-256 of the original bytes (within a scope), least
// recently used evicted first, bounded by the previews' total bytes.
// Thread-safe.
class PreviewCache {
 public:
  explicit PreviewCache(uint64_t max_bytes, CacheScope scope = CacheScope::kSession)
      : max_bytes_(max_bytes), scope_(scope) {}

  // Hex SHA-256 (OpenSSL).
  static std::string Key(std::string_view bytes);
  // The entry key of `bytes` shared into `session` (its id and the nonce of
  // this start of it): Key(bytes), prefixed with the session in kSession.
  std::string KeyFor(std::string_view session, std::string_view bytes) const;

  std::optional<Renditions> Get(const std::string& key);
  void Put(const std::string& key, const Renditions& renditions);
  // Drops every entry holding a preview whose SHA-256 is one of `sha256` (a
  // withdrawn document's). Returns how many entries went.
  size_t ErasePreviews(const std::vector<std::string>& sha256);
  uint64_t bytes() const;

 private:
  using Entry = std::pair<std::string, Renditions>;
  const uint64_t max_bytes_;
  const CacheScope scope_;
  mutable absl::Mutex mu_;
  std::list<Entry> lru_ ABSL_GUARDED_BY(mu_);  // front: most recent
  std::unordered_map<std::string, std::list<Entry>::iterator> index_ ABSL_GUARDED_BY(mu_);
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_PREVIEW_CACHE_H_
