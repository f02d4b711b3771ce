// Issue 12, attack 6, its last part: 200 watchers on a Redis backplane that
// never read took the server from 51 to 630 MB, each decoding its own copy of
// the session's log. A replica now decodes a session's log once for all its
// watchers (the replay cache), and a watcher that does not read holds what
// flow control lets through. Reproduced in-process against a real
// redis-server: RSS is this process' (server and clients), sampled while
// the streams stay open.
#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/support/files.h"
#include "tests/support/h2_flood.h"
#include "tests/support/redis_server.h"

namespace docshare::testing {
namespace {

constexpr int kDocuments = 10;
constexpr int kWatchers = 200;
constexpr int kStreamsPerChannel = 20;
// The 10 events carry 1.8 MB of previews: a copy of the log per watcher is
// 200 × 1.8 MB (with --replay-cache-bytes=0 this test saw 63 -> 452 MB). One
// shared copy and flow control's windows took 62 -> 82 MB.
constexpr uint64_t kMaxGrowth = uint64_t{96} << 20;

// Watch streams the server has open.
class WatcherCount final : public Observer {
 public:
  void WatchersActive(int64_t delta) override { active_ += delta; }
  int64_t active() const { return active_.load(); }

 private:
  std::atomic<int64_t> active_{0};
};

class AttackRedisWatchers : public ServerTest {
 protected:
  void Configure(Config& config) override {
    config.backplane = LocalRedis(redis_.port());
    config.max_token_watchers = 0;  // one consumer token opens them all
  }
  Observer& AppObserver() override { return tee_; }

  RedisServer redis_;
  WatcherCount watchers_;
  ObserverTee tee_{watchers_, observer_};
};

TEST_F(AttackRedisWatchers, TwoHundredWatchersThatNeverReadShareOneDecodedLog) {
  ASSERT_TRUE(redis_.ok());
  const v1::StartSessionResponse session = StartSession("unread");
  const std::string photo = ReadFile(CorpusPath("sharp/2569067123_aca715a2ee_o.jpg"));
  uint64_t log_bytes = 0;
  for (int i = 0; i < kDocuments; ++i) {
    ShareOptions options;
    options.filename = "photo-" + std::to_string(i) + ".jpg";
    const ShareResult r = Share(session.agent_token(), "unread", photo, options);
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  }
  {
    std::vector<v1::SessionEvent> events =
        ReadEvents(session.consumer_token(), "unread", 0, kDocuments);
    ASSERT_EQ(events.size(), static_cast<size_t>(kDocuments));
    for (const v1::SessionEvent& e : events) log_bytes += e.ByteSizeLong();
  }
  const uint64_t before = ResidentBytes();

  struct Stream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::SessionEvent>> reader;
  };
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::SessionService::Stub>> stubs;
  for (int c = 0; c < kWatchers / kStreamsPerChannel; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("docshare.channel", c);  // a connection of its own
    // Without BDP probing the client's windows stay at 64 KiB, as a client
    // that never reads would keep them: what this process holds on the
    // client side stays small, so RSS is the server's.
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetMaxReceiveMessageSize(64 << 20);
    channels.push_back(
        grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(app_->grpc_port()),
                                  grpc::InsecureChannelCredentials(), args));
    stubs.push_back(v1::SessionService::NewStub(channels.back()));
  }
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < kWatchers; ++i) {
    auto s = std::make_unique<Stream>();
    s->ctx.AddMetadata("authorization", "Bearer " + session.consumer_token());
    v1::WatchSessionRequest req;
    req.set_session_id("unread");
    s->reader = stubs[i / kStreamsPerChannel]->WatchSession(&s->ctx, req);
    streams.push_back(std::move(s));
  }
  // Every stream is open on the server (the one that read above is gone),
  // then RSS is sampled for 3 s while none of them reads.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (watchers_.active() < kWatchers && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(watchers_.active(), kWatchers);
  uint64_t highest = ResidentBytes();
  for (int i = 0; i < 30; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    highest = std::max(highest, ResidentBytes());
  }
  std::printf(
      "%d watchers that never read, a log of %.1f MB: RSS %.0f -> %.0f MB at most\n",
      kWatchers, log_bytes / 1e6, before / 1e6, highest / 1e6);
  EXPECT_LT(highest, before + kMaxGrowth)
      << "the watchers took more than one shared copy of the log";
  // The test means something only if a copy per watcher would pass the bound.
  EXPECT_GT(log_bytes * kWatchers, 2 * kMaxGrowth);

  // The service goes on: a watcher that reads gets the whole log, a share
  // lands, and the unread streams end when cancelled.
  EXPECT_EQ(ReadEvents(session.consumer_token(), "unread", 0, kDocuments).size(),
            static_cast<size_t>(kDocuments));
  EXPECT_TRUE(Share(session.agent_token(), "unread", photo).status.ok());
  for (auto& s : streams) s->ctx.TryCancel();
  for (auto& s : streams) s->reader->Finish();
  const absl::Time gone = absl::Now() + absl::Seconds(30);
  while (watchers_.active() > 0 && absl::Now() < gone)
    absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(watchers_.active(), 0);
}

}  // namespace
}  // namespace docshare::testing
