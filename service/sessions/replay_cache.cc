#include "service/sessions/replay_cache.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "service/common/status_macros.h"

namespace docshare {

namespace {

constexpr uint64_t kEventOverhead = 256;  // the event, its shared_ptr, the page slot

// The events of `events` with sequence from..to.
void AppendRange(const std::vector<EventPtr>& events, uint64_t from, uint64_t to,
                 std::vector<EventPtr>& out) {
  for (const EventPtr& e : events) {
    if (e->sequence >= from && e->sequence <= to) out.push_back(e);
  }
}

}  // namespace

ReplayCache::ReplayCache(uint64_t budget_bytes, size_t page)
    : budget_(budget_bytes), page_(std::max<size_t>(page, 1)) {}

uint64_t ReplayCache::CostOf(const SessionEvent& event) {
  const auto* shared = std::get_if<DocumentShared>(&event.event);
  return kEventOverhead +
         (shared != nullptr && shared->document ? shared->document->PreviewBytes() : 0);
}

uint64_t ReplayCache::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

uint64_t ReplayCache::fetches() const {
  absl::MutexLock lock(&mu_);
  return fetches_;
}

bool ReplayCache::Lookup(const std::string& id, const std::string& nonce, uint64_t first,
                         uint64_t from, uint64_t to, std::vector<EventPtr>& out) {
  auto it = logs_.find(id);
  if (it == logs_.end() || it->second.nonce != nonce) return false;
  Log& log = it->second;
  auto page = log.pages.find(first);
  if (page == log.pages.end() || page->second.empty() ||
      page->second.back()->sequence < to) {
    return false;
  }
  AppendRange(page->second, from, to, out);
  lru_.splice(lru_.begin(), lru_, log.lru);
  return true;
}

ReplayCache::Log& ReplayCache::LogOf(const std::string& id, const std::string& nonce) {
  auto it = logs_.find(id);
  if (it != logs_.end() && it->second.nonce == nonce) return it->second;
  if (it != logs_.end()) Erase(it);  // an earlier start of the id
  Log& log = logs_[id];
  log.nonce = nonce;
  log.incarnation = ++incarnations_;
  lru_.push_front(id);
  log.lru = lru_.begin();
  return log;
}

void ReplayCache::Erase(absl::flat_hash_map<std::string, Log>::iterator it) {
  bytes_ -= std::min(bytes_, it->second.cost);
  lru_.erase(it->second.lru);
  logs_.erase(it);
}

void ReplayCache::Evict() {
  while (bytes_ > budget_ && !lru_.empty()) Erase(logs_.find(lru_.back()));
}

void ReplayCache::Forget(std::string_view id) {
  const std::string key(id);  // Debian's abseil: no std::string_view lookup
  absl::MutexLock lock(&mu_);
  auto it = logs_.find(key);
  if (it != logs_.end()) Erase(it);
}

void ReplayCache::Clear() {
  absl::MutexLock lock(&mu_);
  logs_.clear();
  lru_.clear();
  bytes_ = 0;
}

absl::StatusOr<std::vector<EventPtr>> ReplayCache::Read(const std::string& id,
                                                        const std::string& nonce,
                                                        uint64_t from, uint64_t to,
                                                        const Fetch& fetch) {
  from = std::max<uint64_t>(from, 1);  // sequences start at 1
  if (budget_ == 0) {
    {
      absl::MutexLock lock(&mu_);
      ++fetches_;
    }
    return fetch(from, to);
  }
  std::vector<EventPtr> out;
  for (uint64_t seq = from; seq <= to;) {
    const uint64_t first = (seq - 1) / page_ * page_ + 1;
    const uint64_t want = std::min(to, first + (page_ - 1));
    ASSIGN_OR_RETURN(const bool whole, ReadPage(id, nonce, first, seq, want, fetch, out));
    if (!whole || want == to) break;  // the log ends in this page, or the range does
    seq = want + 1;
  }
  return out;
}

absl::StatusOr<bool> ReplayCache::ReadPage(const std::string& id,
                                           const std::string& nonce, uint64_t first,
                                           uint64_t from, uint64_t to, const Fetch& fetch,
                                           std::vector<EventPtr>& out) {
  std::shared_ptr<absl::Mutex> fill;
  uint64_t incarnation;
  {
    absl::MutexLock lock(&mu_);
    if (Lookup(id, nonce, first, from, to, out)) return true;
    Log& log = LogOf(id, nonce);
    fill = log.fill;
    incarnation = log.incarnation;
  }
  // One fetch of the page at a time: who waited here finds it cached.
  absl::MutexLock filling(fill.get());
  std::vector<EventPtr> page;  // what is cached of the page, then the fetch
  {
    absl::MutexLock lock(&mu_);
    if (Lookup(id, nonce, first, from, to, out)) return true;
    auto it = logs_.find(id);
    if (it != logs_.end() && it->second.incarnation == incarnation) {
      auto cached = it->second.pages.find(first);
      if (cached != it->second.pages.end()) page = cached->second;
    }
    ++fetches_;
  }
  // A partial last page grows from where it ends.
  const uint64_t fetch_from = page.empty() ? first : page.back()->sequence + 1;
  ASSIGN_OR_RETURN(std::vector<EventPtr> fetched, fetch(fetch_from, first + (page_ - 1)));
  bool contiguous = true;
  for (size_t i = 0; i < fetched.size(); ++i) {
    contiguous = contiguous && fetched[i] && fetched[i]->sequence == fetch_from + i;
  }
  if (!contiguous) {
    // Not a log this cache understands (a gap): served, never kept.
    AppendRange(fetched, from, to, out);
    return false;
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = logs_.find(id);
    if (!fetched.empty() && it != logs_.end() &&
        it->second.incarnation == incarnation) {  // not forgotten meanwhile
      Log& log = it->second;
      std::vector<EventPtr>& kept = log.pages[first];
      if (kept.size() == page.size()) {
        for (const EventPtr& e : fetched) {
          const uint64_t cost = CostOf(*e);
          log.cost += cost;
          bytes_ += cost;
          kept.push_back(e);
        }
        lru_.splice(lru_.begin(), lru_, log.lru);
        Evict();
      }
    }
  }
  page.insert(page.end(), fetched.begin(), fetched.end());
  AppendRange(page, from, to, out);
  return !page.empty() && page.back()->sequence >= to;
}

}  // namespace docshare
