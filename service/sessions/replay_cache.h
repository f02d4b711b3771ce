#ifndef DOCSHARE_SESSIONS_REPLAY_CACHE_H_
#define DOCSHARE_SESSIONS_REPLAY_CACHE_H_

// A replica's decoded session logs, shared by all of its watchers. The Redis
// store reads a log in pages of `page` entries; each page is fetched and
// decoded once per session (concurrent readers of one session wait for the
// first one's fetch instead of each reading it), and the decoded events are
// kept under a byte budget, the least recently read session evicted first.
// 200 watchers catching up on one session hold one copy of its previews,
// not 200.
//
// Entries are keyed by (id, nonce): a log read for another start of the id
// replaces the old one. The store calls Forget when a session's log changes
// in place (a withdrawal rewrites a DocumentShared without its previews) or
// ends, and Clear when it may have missed such a change (Pub/Sub down).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "service/common/types.h"

namespace docshare {

class ReplayCache {
 public:
  // Reads the log's entries with sequence from..to (inclusive), in order;
  // fewer than asked when the log ends sooner.
  using Fetch =
      std::function<absl::StatusOr<std::vector<EventPtr>>(uint64_t from, uint64_t to)>;

  // budget_bytes 0: nothing is kept (every read fetches).
  ReplayCache(uint64_t budget_bytes, size_t page);
  ReplayCache(const ReplayCache&) = delete;
  ReplayCache& operator=(const ReplayCache&) = delete;

  // The events of `id` (started as `nonce`) with sequence from..to, from the
  // cache or fetched a page at a time. May block on `fetch` (never call it on
  // a gRPC callback thread); an error of `fetch` is returned as is.
  absl::StatusOr<std::vector<EventPtr>> Read(const std::string& id,
                                             const std::string& nonce, uint64_t from,
                                             uint64_t to, const Fetch& fetch)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Drops what is kept of `id`; a fetch in flight for it is not kept either.
  void Forget(std::string_view id) ABSL_LOCKS_EXCLUDED(mu_);
  // Drops everything.
  void Clear() ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t bytes() const ABSL_LOCKS_EXCLUDED(mu_);
  // Pages fetched from the store so far (a cached page is fetched once).
  uint64_t fetches() const ABSL_LOCKS_EXCLUDED(mu_);

  // What an event costs the budget: its previews and a fixed overhead.
  static uint64_t CostOf(const SessionEvent& event);

 private:
  struct Log {
    std::string nonce;
    uint64_t incarnation = 0;  // tells a forgotten-and-recreated Log apart
    // Held across a fetch: one reader of the session fetches, the others wait.
    std::shared_ptr<absl::Mutex> fill = std::make_shared<absl::Mutex>();
    // First sequence of a page -> its events, contiguous from there; the
    // log's last page may be partial and grows as it is read further.
    absl::flat_hash_map<uint64_t, std::vector<EventPtr>> pages;
    uint64_t cost = 0;
    std::list<std::string>::iterator lru;
  };

  // Appends the cached events of the page starting at `first` with sequence
  // from..to to `out` and returns true, if the page holds all of them.
  bool Lookup(const std::string& id, const std::string& nonce, uint64_t first,
              uint64_t from, uint64_t to, std::vector<EventPtr>& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The events from..to of the page starting at `first` (to at most its
  // end) appended to `out`, from the cache or fetched and kept; false when
  // the log ends before `to`.
  absl::StatusOr<bool> ReadPage(const std::string& id, const std::string& nonce,
                                uint64_t first, uint64_t from, uint64_t to,
                                const Fetch& fetch, std::vector<EventPtr>& out)
      ABSL_LOCKS_EXCLUDED(mu_);
  Log& LogOf(const std::string& id, const std::string& nonce)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Erase(absl::flat_hash_map<std::string, Log>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Evict() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t budget_;
  const size_t page_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Log> logs_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // most recently read first
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t fetches_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t incarnations_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace docshare

#endif  // DOCSHARE_SESSIONS_REPLAY_CACHE_H_
