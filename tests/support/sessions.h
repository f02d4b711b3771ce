#ifndef DOCSHARE_TESTS_SUPPORT_SESSIONS_H_
#define DOCSHARE_TESTS_SUPPORT_SESSIONS_H_

// What the backplane tests (memory and Redis) share: a document with one
// preview of a given size, and a subscriber that records what it is given.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "service/common/types.h"
#include "service/sessions/session_store.h"

namespace docshare::testing {

inline constexpr auto kWait = std::chrono::seconds(10);  // a bound, never a sleep

inline std::shared_ptr<const Document> Doc(uint64_t preview_bytes = 100,
                                           std::string id = "doc") {
  auto doc = std::make_shared<Document>();
  doc->document_id = std::move(id);
  doc->filename = "a.png";
  Preview preview;
  preview.rendition = Rendition::kDisplay;
  preview.mime_type = "image/webp";
  preview.data = std::make_shared<const std::string>(preview_bytes, 'x');
  doc->previews.push_back(std::move(preview));
  return doc;
}

// Appends to the start of `id` the store knows now: the nonce a share's
// authorize step would have found.
inline absl::StatusOr<EventPtr> AppendNow(SessionStore& backplane, std::string_view id,
                                          std::shared_ptr<const Document> document) {
  absl::StatusOr<SessionInfo> info = backplane.Get(id);
  if (!info.ok()) return info.status();
  return backplane.Append(id, info->nonce, std::move(document));
}

// Records events (and a lost backplane) and lets a test wait for them.
class Recorder final : public Subscriber {
 public:
  void OnEvent(EventPtr event) override {
    {
      std::lock_guard lock(mu_);
      events_.push_back(std::move(event));
    }
    cv_.notify_all();
  }
  void OnBackplaneLost() override {
    {
      std::lock_guard lock(mu_);
      lost_ = true;
    }
    cv_.notify_all();
  }
  bool WaitLost() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return lost_; });
  }
  bool WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return events_.size() >= n; });
  }
  std::vector<EventPtr> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  std::vector<uint64_t> sequences() const {
    std::vector<uint64_t> out;
    for (const EventPtr& e : events()) out.push_back(e->sequence);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<EventPtr> events_;
  bool lost_ = false;
};

}  // namespace docshare::testing

#endif  // DOCSHARE_TESTS_SUPPORT_SESSIONS_H_
