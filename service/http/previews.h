#ifndef DOCSHARE_HTTP_PREVIEWS_H_
#define DOCSHARE_HTTP_PREVIEWS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/auth/preview_url.h"
#include "service/common/clock.h"
#include "service/http/exchange.h"
#include "service/http/http_observer.h"
#include "service/sessions/session_store.h"

namespace docshare {

// GET/HEAD of a signed preview URL (DESIGN "HTTP"): the bytes from the
// session log (memory or Redis, so any replica serves any URL), ETag the
// sha256, If-None-Match → 304, 403 forged or expired, 410 gone.
//
// A small per-replica cache keeps recently read previews: the 500 browsers
// of one session fetching one preview cost one store read, and fetches
// that arrive while it is being read wait for that read (single flight).
// An entry is trusted for `fresh` only, so a preview withdrawn or ended
// through another replica answers 410 here within that time.
class PreviewRoute {
 public:
  struct Deps {
    SessionStore& backplane;
    const PreviewUrlSigner& signer;
    HttpObserver& observer;
    const Clock& clock;
  };
  struct Options {
    uint64_t cache_bytes = 64ull << 20;
    absl::Duration fresh = absl::Seconds(1);
  };

  PreviewRoute(Deps deps, Options options);

  // On the event loop; never blocks (a store read is dispatched to the store).
  void Handle(const HttpRequest& request, ExchangePtr exchange);

  // A withdrawal (the store's purge listener, on every replica): cached
  // copies of these previews are dropped, so their URLs answer 410 from now
  // on rather than within `fresh`. Never blocks (a short lock).
  void Forget(const std::vector<std::string>& preview_sha256);

  // Store reads made (tests: the cache's effect).
  int64_t store_reads() const;

 private:
  struct Entry {
    std::string mime_type;
    std::string sha256;
    std::shared_ptr<const std::string> data;
    absl::Time loaded;
  };
  // One fetch waiting for its answer.
  struct Fetch {
    bool head = false;
    std::string if_none_match;
    absl::Time url_expires;
    ExchangePtr exchange;
  };

  void Load(const PreviewRef& ref, std::string key);
  void Loaded(const std::string& key, absl::StatusOr<Entry> entry);
  HttpResponse Answer(const Entry& entry, const Fetch& fetch);
  void Insert(const std::string& key, Entry entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Deps deps_;
  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
  uint64_t cached_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Keys being read, with the fetches waiting for them.
  absl::flat_hash_map<std::string, std::vector<Fetch>> loading_ ABSL_GUARDED_BY(mu_);
  int64_t store_reads_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace docshare

#endif  // DOCSHARE_HTTP_PREVIEWS_H_
