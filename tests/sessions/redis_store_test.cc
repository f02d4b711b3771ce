#include "service/sessions/redis_store.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/clock.h"
#include "service/common/log.h"
#include "service/common/observer.h"
#include "service/sessions/errors.h"
#include "service/sessions/make_session_store.h"
#include "service/sessions/watcher.h"
#include "tests/support/redis_server.h"
#include "tests/support/sessions.h"

namespace docshare {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::RedisServer;

using testing::AppendNow;
using testing::Doc;
using testing::kWait;
using testing::Recorder;

std::vector<uint64_t> Sequences(const std::vector<EventPtr>& events) {
  std::vector<uint64_t> out;
  for (const EventPtr& e : events) out.push_back(e->sequence);
  return out;
}

const SessionEnded* AsEnded(const EventPtr& event) {
  return std::get_if<SessionEnded>(&event->event);
}

class RedisStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { redis_ = new RedisServer(); }
  static void TearDownTestSuite() {
    delete redis_;
    redis_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(redis_->ok()) << "redis-server did not start";
    if (!redis_->Start()) GTEST_SKIP() << "redis-server did not restart";
    redis_->Cli("FLUSHALL");
    a_ = Make(caps_);
    b_ = Make(caps_);
  }

  std::unique_ptr<RedisStore> Make(SessionCaps caps) {
    auto bp = std::make_unique<RedisStore>(RedisAddress{"127.0.0.1", redis_->port(), 0},
                                           clock_, caps, observer_);
    EXPECT_TRUE(bp->WaitHealthy(absl::Seconds(10)));
    return bp;
  }

  SessionSettings Settings(std::string id = "s1", absl::Duration ttl = absl::Minutes(10),
                           bool consumer_may_share = false) {
    return SessionSettings{std::move(id), ttl, consumer_may_share};
  }

  SessionInfo MustStart(SessionStore& bp, std::string id = "s1",
                        absl::Duration ttl = absl::Minutes(10)) {
    absl::StatusOr<SessionInfo> info = bp.Start(Settings(std::move(id), ttl));
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? *info : SessionInfo{};
  }

  EventPtr MustAppend(SessionStore& bp, std::string_view id = "s1",
                      uint64_t bytes = 100) {
    absl::StatusOr<EventPtr> event = AppendNow(bp, id, Doc(bytes));
    EXPECT_TRUE(event.ok()) << event.status();
    return event.ok() ? *event : nullptr;
  }

  SessionStore::Subscribed MustSubscribe(SessionStore& bp, Subscriber& subscriber,
                                         uint64_t after = 0, std::string_view id = "s1") {
    absl::StatusOr<SessionStore::Subscribed> s = bp.Subscribe(id, after, &subscriber);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : SessionStore::Subscribed{};
  }

  static RedisServer* redis_;
  FakeClock clock_;
  NullObserver observer_;
  SessionCaps caps_;
  std::unique_ptr<RedisStore> a_;  // two replicas on one Redis
  std::unique_ptr<RedisStore> b_;
};

RedisServer* RedisStoreTest::redis_ = nullptr;

TEST_F(RedisStoreTest, StartIsIdempotentAcrossReplicas) {
  SessionInfo first = MustStart(*a_);
  SessionInfo again = MustStart(*b_);
  EXPECT_EQ(again.nonce, first.nonce);
  EXPECT_EQ(b_->Start(Settings("s1", absl::Minutes(5))).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(b_->Start(Settings("s1", absl::Minutes(10), true)).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(a_->Start(Settings("s2", absl::ZeroDuration())).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RedisStoreTest, SequencesAreAssignedByRedisAcrossReplicas) {
  MustStart(*a_);
  MustStart(*a_, "s2");
  EXPECT_EQ(MustAppend(*a_)->sequence, 1u);
  EXPECT_EQ(MustAppend(*b_)->sequence, 2u);
  EXPECT_EQ(MustAppend(*a_, "s2")->sequence, 1u);
  EXPECT_EQ(MustAppend(*b_)->sequence, 3u);
}

TEST_F(RedisStoreTest, ReplayOnAnotherReplicaCarriesTheData) {
  MustStart(*a_);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(AppendNow(*a_, "s1", Doc(10 + i)).ok());
  Recorder r;
  SessionStore::Subscribed s = MustSubscribe(*b_, r, 1);
  ASSERT_THAT(Sequences(s.replay), ElementsAre(2, 3));
  const auto& doc = *std::get<DocumentShared>(s.replay[1]->event).document;
  EXPECT_EQ(doc.filename, "a.png");
  EXPECT_EQ(*doc.previews.at(0).data, std::string(12, 'x'));
  EXPECT_EQ(s.replay[1]->time, clock_.Now());
}

TEST_F(RedisStoreTest, ShareOnOneReplicaReachesWatchersOnBoth) {
  MustStart(*a_);
  MustAppend(*a_);
  Recorder on_a, on_b;
  SessionStore::Subscribed sa = MustSubscribe(*a_, on_a);
  SessionStore::Subscribed sb = MustSubscribe(*b_, on_b);
  EXPECT_THAT(Sequences(sb.replay), ElementsAre(1));
  MustAppend(*a_, "s1", 7);
  MustAppend(*b_, "s1", 8);
  ASSERT_TRUE(on_a.WaitFor(2));
  ASSERT_TRUE(on_b.WaitFor(2));
  EXPECT_THAT(on_a.sequences(), ElementsAre(2, 3));
  EXPECT_THAT(on_b.sequences(), ElementsAre(2, 3));
  EXPECT_EQ(*std::get<DocumentShared>(on_b.events()[0]->event).document->previews[0].data,
            std::string(7, 'x'));
}

// A document is announced on Pub/Sub without its previews: every replica
// hears every announcement, but only those with a watcher of the session
// read the previews (once) from the log.
TEST_F(RedisStoreTest, ADocumentIsAnnouncedWithoutItsPreviews) {
  redisContext* listener = redisConnect("127.0.0.1", redis_->port());
  ASSERT_TRUE(listener != nullptr && listener->err == 0);
  const timeval timeout{5, 0};  // a broken test fails instead of hanging
  redisSetTimeout(listener, timeout);
  freeReplyObject(redisCommand(listener, "PSUBSCRIBE docshare:events:*"));
  const SessionInfo info = MustStart(*a_);
  Recorder on_b;
  SessionStore::Subscribed sb = MustSubscribe(*b_, on_b);
  MustAppend(*a_, "s1", 100000);
  void* raw = nullptr;
  ASSERT_EQ(redisGetReply(listener, &raw), REDIS_OK);
  auto* reply = static_cast<redisReply*>(raw);
  ASSERT_EQ(reply->type, REDIS_REPLY_ARRAY);
  ASSERT_EQ(reply->elements, 4u);
  EXPECT_EQ(std::string(reply->element[2]->str, reply->element[2]->len),
            "docshare:events:s1");
  EXPECT_EQ(std::string(reply->element[3]->str, reply->element[3]->len),
            info.nonce + " 1");
  freeReplyObject(reply);
  redisFree(listener);
  // The watcher on the other replica still gets the previews' bytes.
  ASSERT_TRUE(on_b.WaitFor(1));
  EXPECT_EQ(*std::get<DocumentShared>(on_b.events()[0]->event).document->previews[0].data,
            std::string(100000, 'x'));
}

TEST_F(RedisStoreTest, NoGapNoDuplicateAtTheSeamUnderConcurrentAppends) {
  MustStart(*a_);
  constexpr int kEvents = 200;
  std::atomic<bool> go{false};
  std::thread writer([&] {
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < kEvents; ++i) ASSERT_TRUE(AppendNow(*a_, "s1", Doc(10)).ok());
  });
  // The hub's seam, not the watcher's drop, keeps the sequence whole: a
  // duplicate handed to a watcher is counted.
  struct DuplicateCounter final : Observer {
    std::atomic<int> duplicates{0};
    void SessionAnomaly(std::string_view what, std::string_view) override {
      if (what == "watcher_duplicate") ++duplicates;
    }
  } counter;
  std::vector<std::unique_ptr<Watcher>> watchers;
  std::vector<std::unique_ptr<Subscription>> subs;
  go.store(true);
  for (int i = 0; i < 8; ++i) {
    auto w = std::make_unique<Watcher>(100000, nullptr, counter);
    absl::StatusOr<SessionStore::Subscribed> s = b_->Subscribe("s1", 0, w.get());
    ASSERT_TRUE(s.ok()) << s.status();
    w->SetReplay(std::move(s->replay));
    subs.push_back(std::move(s->live));
    watchers.push_back(std::move(w));
  }
  writer.join();
  for (auto& w : watchers) {
    std::vector<uint64_t> got;
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (got.size() < kEvents && std::chrono::steady_clock::now() < deadline) {
      if (EventPtr e = w->Pop()) {
        got.push_back(e->sequence);
      } else {
        std::this_thread::yield();  // bounded by the deadline
      }
    }
    ASSERT_EQ(got.size(), static_cast<size_t>(kEvents));
    for (int i = 0; i < kEvents; ++i) ASSERT_EQ(got[i], static_cast<uint64_t>(i + 1));
  }
  subs.clear();  // no delivery runs past here
  EXPECT_EQ(counter.duplicates.load(), 0);
}

TEST_F(RedisStoreTest, EndOnOneReplicaEndsWatchersEverywhereAndPurges) {
  MustStart(*a_);
  MustAppend(*a_);
  MustAppend(*a_);
  Recorder on_a, on_b;
  SessionStore::Subscribed sa = MustSubscribe(*a_, on_a);
  SessionStore::Subscribed sb = MustSubscribe(*b_, on_b);
  absl::StatusOr<uint32_t> purged = b_->End("s1", "ended");
  ASSERT_TRUE(purged.ok()) << purged.status();
  EXPECT_EQ(*purged, 2u);
  ASSERT_TRUE(on_a.WaitFor(1));
  ASSERT_TRUE(on_b.WaitFor(1));
  for (Recorder* r : {&on_a, &on_b}) {
    ASSERT_EQ(r->events().size(), 1u);
    EXPECT_EQ(r->events()[0]->sequence, 3u);
    ASSERT_NE(AsEnded(r->events()[0]), nullptr);
    EXPECT_EQ(AsEnded(r->events()[0])->reason, "ended");
  }
  // The previews are gone from Redis; the log keeps only SessionEnded.
  absl::StatusOr<SessionInfo> info = a_->Get("s1");
  ASSERT_TRUE(info.ok());
  EXPECT_THAT(redis_->Cli("XLEN docshare:log:s1:" + info->nonce), HasSubstr("1"));
  EXPECT_THAT(redis_->Cli("GET docshare:retained"), HasSubstr("0"));
}

TEST_F(RedisStoreTest, ExpiryEndsTheSessionOnceWhicheverReplicaSweeps) {
  MustStart(*a_, "s1", absl::Minutes(1));
  MustAppend(*a_);
  Recorder on_a, on_b;
  SessionStore::Subscribed sa = MustSubscribe(*a_, on_a);
  SessionStore::Subscribed sb = MustSubscribe(*b_, on_b);
  clock_.Advance(absl::Minutes(1));
  std::thread other([&] { a_->ExpireDue(); });
  b_->ExpireDue();
  other.join();
  ASSERT_TRUE(on_a.WaitFor(1));
  ASSERT_TRUE(on_b.WaitFor(1));
  MustStart(*a_, "probe");  // a round trip after the sweeps: any duplicate is here by now
  MustAppend(*a_, "probe");
  Recorder probe;
  SessionStore::Subscribed sp = MustSubscribe(*b_, probe, 0, "probe");
  for (Recorder* r : {&on_a, &on_b}) {
    ASSERT_EQ(r->events().size(), 1u);
    EXPECT_EQ(r->events()[0]->sequence, 2u);
    EXPECT_EQ(AsEnded(r->events()[0])->reason, "expired");
  }
  Recorder late;
  absl::StatusOr<SessionStore::Subscribed> s = b_->Subscribe("s1", 0, &late);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("expired"));
}

TEST_F(RedisStoreTest, MissedMessagesAreFilledFromTheLogAfterAReconnect) {
  MustStart(*a_);
  Recorder r;
  SessionStore::Subscribed s = MustSubscribe(*b_, r);
  MustAppend(*a_);
  ASSERT_TRUE(r.WaitFor(1));
  // Cut every replica's Pub/Sub connection; what is appended until they
  // reconnect is never published to them.
  redis_->Cli("CLIENT KILL TYPE pubsub");
  for (int i = 0; i < 5; ++i) MustAppend(*a_);
  ASSERT_TRUE(r.WaitFor(6));
  ASSERT_TRUE(b_->WaitHealthy(absl::Seconds(10)));
  MustAppend(*a_);
  ASSERT_TRUE(r.WaitFor(7));
  EXPECT_THAT(r.sequences(), ElementsAre(1, 2, 3, 4, 5, 6, 7));
}

TEST_F(RedisStoreTest, RedisDownFailsFastAndRecoversByItself) {
  MustStart(*a_);
  MustAppend(*a_);
  Recorder r;
  SessionStore::Subscribed s = MustSubscribe(*b_, r);
  redis_->Stop();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(AppendNow(*a_, "s1", Doc()).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a_->Get("s1").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (a_->Healthy() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_FALSE(a_->Healthy());
  // The live watcher is told to resume instead of waiting on a dead backplane.
  EXPECT_TRUE(r.WaitLost());
  a_->ExpireDue();  // must not hang or crash either
  ASSERT_TRUE(redis_->Start());
  ASSERT_TRUE(a_->WaitHealthy(absl::Seconds(10)));
  ASSERT_TRUE(b_->WaitHealthy(absl::Seconds(10)));
  // This Redis keeps nothing on disk: the session is gone, but the
  // backplane works again without a restart.
  EXPECT_EQ(a_->Get("s1").status().code(), absl::StatusCode::kNotFound);
  MustStart(*a_, "s2");
  Recorder again;
  SessionStore::Subscribed s2 = MustSubscribe(*b_, again, 0, "s2");
  MustAppend(*a_, "s2");
  ASSERT_TRUE(again.WaitFor(1));
}

// Records what the backplane reports about its connection and its
// anomalies, and lets a test wait for them.
class ReportRecorder final : public Observer {
 public:
  void BackplaneReachable(std::string_view address, bool reachable,
                          std::string_view) override {
    absl::MutexLock lock(&mu_);
    reachable_.push_back(reachable);
    address_ = std::string(address);
  }
  void SessionAnomaly(std::string_view what, std::string_view) override {
    absl::MutexLock lock(&mu_);
    anomalies_.push_back(std::string(what));
  }
  bool WaitReports(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]()
                      ABSL_SHARED_LOCKS_REQUIRED(mu_) { return reachable_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }
  int Count(std::string_view what) {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(std::count(anomalies_.begin(), anomalies_.end(), what));
  }
  bool WaitAnomaly(std::string_view what) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return std::find(anomalies_.begin(), anomalies_.end(), what) != anomalies_.end();
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), absl::Seconds(10));
  }
  std::vector<bool> reachable() {
    absl::MutexLock lock(&mu_);
    return reachable_;
  }
  std::string address() {
    absl::MutexLock lock(&mu_);
    return address_;
  }

 private:
  absl::Mutex mu_;
  std::vector<bool> reachable_ ABSL_GUARDED_BY(mu_);
  std::string address_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> anomalies_ ABSL_GUARDED_BY(mu_);
};

// Issue 16: Redis unreachable is logged at start and on each transition,
// once (not once per reconnect attempt), with the address, as JSON.
TEST_F(RedisStoreTest, ReachabilityIsReportedAtStartAndOncePerTransition) {
  redis_->Stop();
  ReportRecorder reports;
  std::ostringstream lines;
  Logger log(LogLevel::kInfo, &lines);
  LogObserver logged(log);
  ObserverTee tee(reports, logged);
  RedisStore bp(RedisAddress{"127.0.0.1", redis_->port(), 0}, clock_, caps_, tee);
  ASSERT_TRUE(reports.WaitReports(1));
  ASSERT_TRUE(redis_->Start());  // the backplane retries meanwhile, silently
  ASSERT_TRUE(reports.WaitReports(2));
  redis_->Stop();
  ASSERT_TRUE(reports.WaitReports(3));
  ASSERT_TRUE(redis_->Start());
  ASSERT_TRUE(reports.WaitReports(4));
  ASSERT_TRUE(bp.WaitHealthy(absl::Seconds(10)));
  EXPECT_THAT(reports.reachable(), ElementsAre(false, true, false, true));
  const std::string address = absl::StrCat("redis://127.0.0.1:", redis_->port(), "/0");
  EXPECT_EQ(reports.address(), address);
  EXPECT_THAT(lines.str(), HasSubstr(absl::StrCat(R"("event":"backplane_unreachable")")));
  EXPECT_THAT(lines.str(), HasSubstr(absl::StrCat(R"("address":")", address, R"(")")));
  EXPECT_THAT(lines.str(), HasSubstr(R"("event":"backplane_connected")"));
}

// "Can't happen" is counted and logged, never a silent continue.
TEST_F(RedisStoreTest, MalformedAnnouncementsAndEntriesAreReported) {
  ReportRecorder reports;
  RedisStore bp(RedisAddress{"127.0.0.1", redis_->port(), 0}, clock_, caps_, reports);
  ASSERT_TRUE(bp.WaitHealthy(absl::Seconds(10)));
  const SessionInfo info = MustStart(*a_);
  Recorder r;
  SessionStore::Subscribed s = MustSubscribe(bp, r);
  redis_->Cli("PUBLISH docshare:events:s1 no-space-in-it");
  EXPECT_TRUE(reports.WaitAnomaly("malformed_announcement"));
  redis_->Cli(absl::StrCat("PUBLISH docshare:events:s1 '", info.nonce, " 1 garbage'"));
  EXPECT_TRUE(reports.WaitAnomaly("undecodable_entry"));
  EXPECT_TRUE(r.events().empty());
  // A sequence that is not a positive number is malformed too: it never
  // reaches a decoder or a log read as sequence 0. A real share after them is
  // delivered: the subscription goes on.
  for (const char* seq : {" x garbage", " 0", " -3"}) {
    redis_->Cli(absl::StrCat("PUBLISH docshare:events:s1 '", info.nonce, seq, "'"));
  }
  ASSERT_TRUE(AppendNow(*a_, "s1", Doc(10)).ok());
  ASSERT_TRUE(r.WaitFor(1));
  EXPECT_EQ(reports.Count("malformed_announcement"), 4);
  EXPECT_EQ(reports.Count("undecodable_entry"), 1);
  // A log entry nobody could have written: a replay refuses it, loudly.
  redis_->Cli(absl::StrCat("XADD docshare:log:s1:", info.nonce, " 2-1 e garbage"));
  redis_->Cli("HSET docshare:session:s1 seq 2");
  Recorder late;
  EXPECT_EQ(bp.Subscribe("s1", 0, &late).status().code(), absl::StatusCode::kInternal);
}

// Every byte Redis holds, key by key: DUMP of each key, and each stream's
// entries in plain (DUMP of a stream is its RDB encoding, which may pack).
std::string EverythingIn(int port) {
  redisContext* c = redisConnect("127.0.0.1", port);
  EXPECT_TRUE(c != nullptr && c->err == 0);
  std::string all;
  auto* keys = static_cast<redisReply*>(redisCommand(c, "KEYS *"));
  for (size_t i = 0; keys != nullptr && i < keys->elements; ++i) {
    const std::string key(keys->element[i]->str, keys->element[i]->len);
    all += key + "\n";
    auto* dump =
        static_cast<redisReply*>(redisCommand(c, "DUMP %b", key.data(), key.size()));
    if (dump->type == REDIS_REPLY_STRING) all.append(dump->str, dump->len);
    freeReplyObject(dump);
    auto* range = static_cast<redisReply*>(
        redisCommand(c, "XRANGE %b - +", key.data(), key.size()));
    for (size_t j = 0; range->type == REDIS_REPLY_ARRAY && j < range->elements; ++j) {
      const redisReply* fields = range->element[j]->element[1];
      for (size_t k = 0; k < fields->elements; ++k) {
        all.append(fields->element[k]->str, fields->element[k]->len);
      }
    }
    freeReplyObject(range);
  }
  freeReplyObject(keys);
  redisFree(c);
  return all;
}

TEST_F(RedisStoreTest, AWithdrawnDocumentLeavesNoByteInRedis) {
  MustStart(*a_);
  // Incompressible bytes, so no encoding can hide them from the search.
  std::string secret(4096, '\0');
  uint32_t x = 2463534242u;
  for (char& ch : secret) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    ch = static_cast<char>(x);
  }
  auto doc = std::make_shared<Document>(*Doc(1, "d1"));
  doc->filename = "another-customers-statement.png";
  doc->previews[0].data = std::make_shared<const std::string>(secret);
  doc->previews[0].sha256 = "feedface";
  doc->shared_by = Role::kAgent;
  // Events before and after it, in the same stream node.
  MustAppend(*a_);
  ASSERT_TRUE(AppendNow(*a_, "s1", doc).ok());
  MustAppend(*a_);
  const std::string probe = secret.substr(1000, 64);
  ASSERT_NE(EverythingIn(redis_->port()).find(probe), std::string::npos)
      << "the search must see the bytes while they are shared";
  ASSERT_TRUE(b_->Withdraw("s1", "d1", Role::kAgent).ok());
  const std::string left = EverythingIn(redis_->port());
  EXPECT_EQ(left.find(probe), std::string::npos);
  EXPECT_EQ(left.find("another-customers-statement"), std::string::npos);
  EXPECT_EQ(left.find("feedface"), std::string::npos);
  // The log still has every sequence, in order.
  Recorder late;
  EXPECT_THAT(Sequences(MustSubscribe(*a_, late).replay), ElementsAre(1, 2, 3, 4));
}

// Issue 11: a caller hands its store calls to Dispatch, and with Redis they
// wait on the store's own threads, never on the caller's (a gRPC callback
// thread, the HTTP loop): Dispatch returns while Redis has not answered. A
// full queue refuses (the caller answers StoreBusy / 503); FinishCalls runs
// what waits, then refuses.
TEST_F(RedisStoreTest, DispatchedCallsWaitOnTheStoresThreadsAndAFullQueueRefuses) {
  RedisStore store(RedisAddress{"127.0.0.1", redis_->port(), 0}, clock_, caps_, observer_,
                   RedisCallThreads{.threads = 1, .queue = 1});
  ASSERT_TRUE(store.WaitHealthy(absl::Seconds(10)));
  MustStart(store);
  struct Call {
    absl::Notification started, done;
    std::thread::id thread;
    absl::Status status;
  };
  auto get = [&store](Call& call) {
    return [&store, &call] {
      call.thread = std::this_thread::get_id();
      call.started.Notify();
      call.status = store.Get("s1").status();
      call.done.Notify();
    };
  };
  Call first, second;
  redis_->Pause();
  struct Resume {
    ~Resume() { redis->Resume(); }
    RedisServer* redis;
  } resume{redis_};
  ASSERT_TRUE(store.Dispatch(get(first)));
  // Redis answers nothing: had the call run here, it would be over.
  EXPECT_FALSE(first.done.HasBeenNotified());
  ASSERT_TRUE(first.started.WaitForNotificationWithTimeout(absl::FromChrono(kWait)));
  EXPECT_NE(first.thread, std::this_thread::get_id());
  ASSERT_TRUE(store.Dispatch(get(second)));  // the queue's one place
  EXPECT_FALSE(store.Dispatch([] { ADD_FAILURE() << "a refused call ran"; }));
  EXPECT_EQ(StoreBusy().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(first.done.HasBeenNotified());  // still waiting on Redis, not on us
  redis_->Resume();
  ASSERT_TRUE(first.done.WaitForNotificationWithTimeout(absl::FromChrono(kWait)));
  // Answered once Redis resumed, or (a slow machine) the 1 s command timeout.
  EXPECT_TRUE(first.status.ok() || absl::IsUnavailable(first.status)) << first.status;
  ASSERT_TRUE(second.done.WaitForNotificationWithTimeout(absl::FromChrono(kWait)));
  EXPECT_TRUE(second.status.ok()) << second.status;
  store.FinishCalls();
  EXPECT_FALSE(store.Dispatch([] { ADD_FAILURE() << "a call ran after FinishCalls"; }));
}

TEST(MakeSessionStoreTest, ParsesUrls) {
  absl::StatusOr<RedisAddress> a = ParseRedisUrl("redis://cache.internal:6380/2");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "cache.internal");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 2);
  a = ParseRedisUrl("redis://h");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->port, 6379);
  EXPECT_EQ(a->db, 0);
  for (const char* bad : {"redis://", "redis://h:x", "redis://h:0", "redis://h:70000",
                          "redis://h/x", "http://h", "redis://u@h", "redis://u:@h"}) {
    EXPECT_EQ(ParseRedisUrl(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  FakeClock clock;
  NullObserver observer;
  auto memory = MakeSessionStore("memory", clock, SessionCaps{}, observer);
  ASSERT_TRUE(memory.ok());
  EXPECT_TRUE((*memory)->Healthy());
  EXPECT_FALSE(MakeSessionStore("redis://h:x", clock, SessionCaps{}, observer).ok());
}

TEST(RedisStoreOfflineTest, StartsUnhealthyWithoutRedisAndFailsFast) {
  FakeClock clock;
  NullObserver observer;
  RedisStore bp(RedisAddress{"127.0.0.1", testing::FreePort(), 0}, clock, SessionCaps{},
                observer);
  EXPECT_FALSE(bp.Healthy());
  EXPECT_EQ(bp.Start({"s1", absl::Minutes(1), false}).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace docshare
