#include "service/http/previews.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "service/http/api.h"

namespace docshare {
namespace {

std::string KeyOf(const PreviewRef& ref) {
  return absl::StrCat(ref.session_id, "/", ref.nonce, "/", ref.sequence, "/",
                      ref.rendition == Rendition::kDisplay ? "display" : "thumbnail");
}

// If-None-Match: "*" or a list of entity tags, weak or strong.
bool Matches(std::string_view if_none_match, std::string_view sha256) {
  for (absl::string_view part : absl::StrSplit(
           absl::string_view(if_none_match.data(), if_none_match.size()), ',')) {
    std::string_view tag(part.data(), part.size());
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag == "*") return true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"' &&
        tag.substr(1, tag.size() - 2) == sha256) {
      return true;
    }
  }
  return false;
}

// The preview is not there (withdrawn, ended, expired, purged, another start
// of the id): the URL is gone for good.
HttpResponse Gone(const absl::Status& status) {
  HttpResponse response = ErrorResponse(status);
  response.status = 410;
  return response;
}

}  // namespace

PreviewRoute::PreviewRoute(Deps deps, Options options) : deps_(deps), options_(options) {}

int64_t PreviewRoute::store_reads() const {
  absl::MutexLock lock(&mu_);
  return store_reads_;
}

void PreviewRoute::Forget(const std::vector<std::string>& preview_sha256) {
  absl::MutexLock lock(&mu_);
  for (auto it = cache_.begin(); it != cache_.end();) {
    if (std::find(preview_sha256.begin(), preview_sha256.end(), it->second.sha256) ==
        preview_sha256.end()) {
      ++it;
      continue;
    }
    cached_bytes_ -= it->second.data->size();
    cache_.erase(it++);
  }
}

void PreviewRoute::Handle(const HttpRequest& request, ExchangePtr exchange) {
  absl::StatusOr<PreviewRef> ref = deps_.signer.Verify(request.path, request.query);
  if (!ref.ok()) return exchange->Answer(ErrorResponse(ref.status()));
  Fetch fetch{.head = request.method == "HEAD",
              .if_none_match = std::string(request.Header("if-none-match").value_or("")),
              .url_expires = ref->expires_at,
              .exchange = std::move(exchange)};
  std::string key = KeyOf(*ref);
  const absl::Time now = deps_.clock.Now();
  std::optional<Entry> hit;
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && now - it->second.loaded < options_.fresh) {
      hit = it->second;
    } else {
      auto [waiting, first] = loading_.try_emplace(key);
      waiting->second.push_back(std::move(fetch));
      if (!first) return;  // the read in progress answers it
      ++store_reads_;
    }
  }
  if (hit) return fetch.exchange->Answer(Answer(*hit, fetch));
  Load(*ref, std::move(key));
}

void PreviewRoute::Load(const PreviewRef& ref, std::string key) {
  const bool queued = deps_.backplane.Dispatch([this, ref, key] {
    absl::StatusOr<std::shared_ptr<const Document>> document =
        deps_.backplane.ReadDocument(ref.session_id, ref.nonce,
                                     static_cast<uint64_t>(ref.sequence));
    if (!document.ok()) return Loaded(key, document.status());
    for (const Preview& preview : (*document)->previews) {
      if (preview.rendition != ref.rendition || !preview.data) continue;
      return Loaded(key, Entry{.mime_type = preview.mime_type,
                               .sha256 = preview.sha256,
                               .data = preview.data,
                               .loaded = deps_.clock.Now()});
    }
    Loaded(key, absl::NotFoundError("the document has no such preview (withdrawn)"));
  });
  if (!queued) {
    Loaded(key, absl::UnavailableError("too many preview reads waiting; retry"));
  }
}

void PreviewRoute::Loaded(const std::string& key, absl::StatusOr<Entry> entry) {
  std::vector<Fetch> waiting;
  {
    absl::MutexLock lock(&mu_);
    auto it = loading_.find(key);
    if (it != loading_.end()) {
      waiting = std::move(it->second);
      loading_.erase(it);
    }
    if (entry.ok()) Insert(key, *entry);
  }
  for (Fetch& fetch : waiting) {
    if (entry.ok()) {
      fetch.exchange->Answer(Answer(*entry, fetch));
    } else if (absl::IsNotFound(entry.status()) ||
               absl::IsFailedPrecondition(entry.status())) {
      fetch.exchange->Answer(Gone(entry.status()));
    } else {
      fetch.exchange->Answer(ErrorResponse(entry.status()));
    }
  }
}

void PreviewRoute::Insert(const std::string& key, Entry entry) {
  const uint64_t size = entry.data->size();
  if (size > options_.cache_bytes) return;
  if (auto old = cache_.find(key); old != cache_.end()) {
    cached_bytes_ -= old->second.data->size();
    cache_.erase(old);
  }
  // Oldest first until it fits: the cache is small, a scan is cheap.
  while (cached_bytes_ + size > options_.cache_bytes && !cache_.empty()) {
    auto oldest = std::min_element(cache_.begin(), cache_.end(), [](auto& a, auto& b) {
      return a.second.loaded < b.second.loaded;
    });
    cached_bytes_ -= oldest->second.data->size();
    cache_.erase(oldest);
  }
  cached_bytes_ += size;
  cache_.emplace(key, std::move(entry));
}

HttpResponse PreviewRoute::Answer(const Entry& entry, const Fetch& fetch) {
  HttpResponse response;
  const int64_t max_age =
      std::max<int64_t>(0, absl::ToInt64Seconds(fetch.url_expires - deps_.clock.Now()));
  response.AddHeader("ETag", absl::StrCat("\"", entry.sha256, "\""));
  response.AddHeader("Cache-Control",
                     absl::StrCat("private, max-age=", max_age, ", immutable"));
  if (!fetch.if_none_match.empty() && Matches(fetch.if_none_match, entry.sha256)) {
    response.status = 304;
    deps_.observer.PreviewNotModified();
    return response;
  }
  response.AddHeader("Content-Type", entry.mime_type);
  response.body = *entry.data;
  if (!fetch.head) deps_.observer.PreviewBytesServed(entry.data->size());
  return response;
}

}  // namespace docshare
