// The Redis store's live fan-out: one Pub/Sub connection and thread per
// replica (PSUBSCRIBE docshare:events:* and docshare:purge:*), which hands
// events to this replica's SessionHub in sequence order, reconnects with
// backoff, and tells the hub when the feed is up or lost.

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "service/sessions/redis_names.h"
#include "service/sessions/redis_store.h"

namespace docshare {
namespace {

bool Flush(redisContext* c) {
  int done = 0;
  while (!done) {
    if (redisBufferWrite(c, &done) == REDIS_ERR) return false;
  }
  return true;
}

}  // namespace

void RedisStore::PubSubLoop() {
  using Clock = std::chrono::steady_clock;
  auto stopping = [this] {
    absl::MutexLock lock(&stop_mu_);
    return stopping_;
  };
  auto set_subscribed = [this](bool up) {
    // Pooled command connections from before a drop are likely dead (a
    // Redis restart closed them): open fresh ones rather than fail a
    // command on each.
    pool_.Clear();
    // A withdrawal's purge message may have been missed meanwhile.
    replay_->Clear();
    // Up again: every watch reads whatever was published while this replica
    // was not listening.
    hub_->SetFeed(up);
    absl::MutexLock lock(&stop_mu_);  // wakes WaitHealthy
    subscribed_.store(up);
  };
  const Fetch fetch = CachedFetchFunction();
  std::chrono::milliseconds backoff(50);
  bool was_connected = false;
  // Logged at start and once per transition, not once per retry.
  std::optional<bool> reported;
  auto report = [&](bool reachable, std::string_view why) {
    if (reported == reachable) return;
    reported = reachable;
    observer_.BackplaneReachable(AddressText(address_), reachable, why);
  };
  while (!stopping()) {
    absl::StatusOr<std::unique_ptr<RedisConnection>> conn =
        RedisConnection::Open(address_);
    ReplyPtr ack;
    std::string why;
    if (conn.ok()) {
      absl::StatusOr<ReplyPtr> r =
          (*conn)->Command({"PSUBSCRIBE", std::string(kEventsChannelPrefix) + "*",
                            std::string(kPurgeChannelPrefix) + "*"});
      if (r.ok() && (*r)->type == REDIS_REPLY_ARRAY) {
        ack = *std::move(r);
      } else {
        why = r.ok() ? "PSUBSCRIBE refused" : std::string(r.status().message());
      }
    } else {
      why = std::string(conn.status().message());
    }
    if (!ack) {
      report(false, why);
      // Redis is down (not a blip a reconnect mends): live watchers cannot be
      // served, so they are told to resume, here or on another replica.
      if (was_connected) {
        was_connected = false;
        hub_->LoseAll();
      }
      absl::MutexLock lock(&stop_mu_);
      stop_mu_.AwaitWithTimeout(
          absl::Condition(
              +[](bool* stopping) { return *stopping; }, &stopping_),
          absl::FromChrono(backoff));
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
      continue;
    }
    backoff = std::chrono::milliseconds(50);
    redisContext* c = (*conn)->context();
    report(true, "");
    set_subscribed(true);
    was_connected = true;
    auto heard = Clock::now();
    auto pinged = heard;
    while (!stopping()) {
      void* raw = nullptr;
      if (redisReaderGetReply(c->reader, &raw) != REDIS_OK) break;
      if (raw != nullptr) {
        ReplyPtr reply(static_cast<redisReply*>(raw));
        heard = Clock::now();
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4 ||
            std::string_view(reply->element[0]->str, reply->element[0]->len) !=
                "pmessage") {
          continue;  // the PING's pong, subscribe acks
        }
        std::string_view channel(reply->element[2]->str, reply->element[2]->len);
        std::string_view payload(reply->element[3]->str, reply->element[3]->len);
        if (channel.substr(0, kPurgeChannelPrefix.size()) == kPurgeChannelPrefix) {
          // A withdrawal (on any replica) rewrote a DocumentShared of the log.
          replay_->Forget(channel.substr(kPurgeChannelPrefix.size()));
          const std::vector<std::string> sha256 = absl::StrSplit(
              absl::string_view(payload.data(), payload.size()), ' ', absl::SkipEmpty());
          NotifyPurge(sha256);
          continue;
        }
        if (channel.substr(0, kEventsChannelPrefix.size()) != kEventsChannelPrefix) {
          observer_.SessionAnomaly("malformed_announcement", channel);
          continue;
        }
        const std::string id(channel.substr(kEventsChannelPrefix.size()));
        if (!hub_->Watched(id)) continue;
        // "nonce seq blob", or "nonce seq" for a document (its previews are
        // read from the log once, for all of this replica's watchers).
        const size_t a = payload.find(' ');
        if (a == std::string_view::npos) {
          observer_.SessionAnomaly("malformed_announcement", channel);
          continue;
        }
        const size_t b = payload.find(' ', a + 1);
        const std::string nonce(payload.substr(0, a));
        const std::optional<uint64_t> parsed = ParseSequence(payload.substr(
            a + 1, b == std::string_view::npos ? std::string_view::npos : b - a - 1));
        if (!parsed.has_value()) {
          observer_.SessionAnomaly("malformed_announcement", channel);
          continue;
        }
        const uint64_t seq = *parsed;
        absl::StatusOr<EventPtr> event;
        if (b != std::string_view::npos) {
          event = DecodeWithSequence(payload.substr(b + 1), seq);
        } else {
          absl::StatusOr<std::vector<EventPtr>> logged = fetch(id, nonce, seq, seq);
          // Redis answers Pub/Sub but not a read: reconnect, and the
          // catch-up reads from each watcher's next sequence.
          if (!logged.ok()) break;
          // Gone from the log: the session ended, and its SessionEnded
          // message, which follows, fills in from the log what is left.
          if (logged->empty()) continue;
          event = logged->front();
        }
        if (!event.ok()) {
          observer_.SessionAnomaly("undecodable_entry",
                                   std::string(event.status().message()));
          continue;
        }
        hub_->Publish(id, nonce, *event);
        continue;
      }
      const auto now = Clock::now();
      if (now - heard > std::chrono::seconds(3)) break;  // silent: presume dead
      if (now - pinged > std::chrono::seconds(1)) {
        pinged = now;
        if (redisAppendCommand(c, "PING") != REDIS_OK || !Flush(c)) break;
      }
      pollfd p[2] = {{c->fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      const int n = poll(p, 2, 200);
      if (n < 0 && errno != EINTR) break;
      if (n > 0 && p[0].revents != 0 && redisBufferRead(c) != REDIS_OK) break;
    }
    set_subscribed(false);
  }
}

}  // namespace docshare
