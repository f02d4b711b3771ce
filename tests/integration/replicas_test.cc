// Several docshare-server processes sharing sessions through one real
// redis-server: what a client sees when it moves between replicas.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "docshare/v1/docshare.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/support/hostile.h"
#include "tests/support/redis_server.h"

#ifndef DOCSHARE_SERVER_BINARY
#error "CMake defines DOCSHARE_SERVER_BINARY for integration_tests"
#endif

namespace docshare::testing {
namespace {

constexpr char kAdmin[] = "replicas-admin-token-0123456789abcdef";
constexpr char kSecret[] = "replicas-shared-token-secret-0123456789";
constexpr auto kWait = std::chrono::seconds(20);  // a bound, never a sleep

std::chrono::system_clock::time_point Deadline(std::chrono::seconds s = kWait) {
  return std::chrono::system_clock::now() + s;
}

void Authorize(grpc::ClientContext& ctx, const std::string& token) {
  ctx.AddMetadata("authorization", "Bearer " + token);
}

// One docshare-server process.
class Replica {
 public:
  Replica(std::string name, std::string redis_url)
      : name_(std::move(name)), redis_url_(std::move(redis_url)) {}
  ~Replica() { Stop(); }

  bool Spawn() {
    port_ = FreePort();
    const std::string log = absl::StrCat(::testing::TempDir(), "replica-", name_, ".log");
    std::vector<std::string> args = {DOCSHARE_SERVER_BINARY,
                                     absl::StrCat("--grpc-address=127.0.0.1:", port_),
                                     "--metrics-address=127.0.0.1:0",
                                     "--http-address=127.0.0.1:0",
                                     "--backplane=" + redis_url_,
                                     absl::StrCat("--admin-token=", kAdmin),
                                     absl::StrCat("--token-secret=", kSecret),
                                     "--render-workers=1",
                                     "--drain-timeout=1"};
    pid_ = fork();
    if (pid_ == 0) {
      if (FILE* f = freopen(log.c_str(), "w", stderr)) (void)f;
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    if (pid_ < 0) return false;
    grpc::ChannelArguments ch;
    ch.SetMaxReceiveMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port_),
                                         grpc::InsecureChannelCredentials(), ch);
    sessions = v1::SessionService::NewStub(channel_);
    documents = v1::DocumentService::NewStub(channel_);
    return WaitServing();
  }

  // Serving means the replica answers a StartSession through Redis.
  bool WaitServing() {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      v1::StartSessionRequest req;
      req.set_session_id("probe-" + name_);
      v1::StartSessionResponse resp;
      grpc::ClientContext ctx;
      Authorize(ctx, kAdmin);
      ctx.set_deadline(Deadline(std::chrono::seconds(1)));
      ctx.set_wait_for_ready(true);
      if (sessions->StartSession(&ctx, req, &resp).ok()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // bounded retry
    }
    return false;
  }

  void Kill(int signal) {
    if (pid_ <= 0) return;
    kill(pid_, signal);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void Stop() { StopProcess(pid_); }

  std::unique_ptr<v1::SessionService::Stub> sessions;
  std::unique_ptr<v1::DocumentService::Stub> documents;

 private:
  std::string name_;
  std::string redis_url_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
};

// A WatchSession stream read on its own thread.
class Watch {
 public:
  Watch(Replica& r, const std::string& token, const std::string& id, uint64_t after) {
    Authorize(ctx_, token);
    v1::WatchSessionRequest req;
    req.set_session_id(id);
    req.set_after_sequence(after);
    reader_ = r.sessions->WatchSession(&ctx_, req);
    thread_ = std::thread([this] {
      v1::SessionEvent e;
      while (reader_->Read(&e)) {
        std::lock_guard lock(mu_);
        events_.push_back(e);
        cv_.notify_all();
      }
      grpc::Status s = reader_->Finish();
      std::lock_guard lock(mu_);
      status_ = s;
      done_ = true;
      cv_.notify_all();
    });
  }
  ~Watch() {
    ctx_.TryCancel();
    thread_.join();
  }

  bool WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return events_.size() >= n || done_; }) &&
           events_.size() >= n;
  }
  // The stream's final status, once it ended (bounded).
  grpc::Status WaitDone() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, kWait, [&] { return done_; })) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "stream did not end");
    }
    return status_;
  }
  std::vector<v1::SessionEvent> events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  std::vector<uint64_t> sequences() {
    std::vector<uint64_t> out;
    for (const auto& e : events()) out.push_back(e.sequence());
    return out;
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::SessionEvent>> reader_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::SessionEvent> events_;
  grpc::Status status_;
  bool done_ = false;
};

class Replicas : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_ = new RedisServer();
    for (const char* name : {"a", "b", "c"}) {
      replicas_.push_back(new Replica(name, redis_->url()));
    }
  }
  static void TearDownTestSuite() {
    for (Replica* r : replicas_) delete r;
    replicas_.clear();
    delete redis_;
    redis_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(redis_->ok()) << "redis-server did not start";
    ASSERT_TRUE(redis_->Start());
    for (Replica* r : replicas_) {
      if (!r->sessions) ASSERT_TRUE(r->Spawn()) << "a docshare-server did not come up";
    }
  }

  Replica& A() { return *replicas_[0]; }
  Replica& B() { return *replicas_[1]; }
  Replica& C() { return *replicas_[2]; }

  v1::StartSessionResponse Start(Replica& r, const std::string& id, uint32_t ttl = 0) {
    v1::StartSessionRequest req;
    req.set_session_id(id);
    req.set_ttl_seconds(ttl);
    v1::StartSessionResponse resp;
    grpc::ClientContext ctx;
    Authorize(ctx, kAdmin);
    ctx.set_deadline(Deadline());
    grpc::Status s = r.sessions->StartSession(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  grpc::Status End(Replica& r, const std::string& id, v1::EndSessionResponse* resp) {
    v1::EndSessionRequest req;
    req.set_session_id(id);
    grpc::ClientContext ctx;
    Authorize(ctx, kAdmin);
    ctx.set_deadline(Deadline());
    return r.sessions->EndSession(&ctx, req, resp);
  }

  // Shares a `width` x 8 PNG: the width tells the documents apart.
  grpc::Status Share(Replica& r, const std::string& token, const std::string& id,
                     uint32_t width) {
    const std::string png = PngWithDimensions(width, 8);
    grpc::ClientContext ctx;
    Authorize(ctx, token);
    ctx.set_deadline(Deadline());
    v1::ShareDocumentResponse resp;
    auto writer = r.documents->ShareDocument(&ctx, &resp);
    v1::ShareDocumentRequest header;
    header.mutable_header()->set_session_id(id);
    header.mutable_header()->set_filename("p.png");
    header.mutable_header()->set_size_bytes(png.size());
    v1::ShareDocumentRequest chunk;
    chunk.set_chunk(png);
    if (writer->Write(header)) writer->Write(chunk);
    writer->WritesDone();
    return writer->Finish();
  }

  void MustShare(Replica& r, const std::string& token, const std::string& id,
                 uint32_t width) {
    grpc::Status s = Share(r, token, id, width);
    ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  }

  static int WidthOf(const v1::SessionEvent& e) {
    return e.document_shared().document().source_width();
  }

  static RedisServer* redis_;
  static std::vector<Replica*> replicas_;
};

RedisServer* Replicas::redis_ = nullptr;
std::vector<Replica*> Replicas::replicas_;

TEST_F(Replicas, ShareOnOneReplicaReachesAWatcherOnAnotherWithDataInOrder) {
  const auto s = Start(A(), "fanout");
  Watch on_b(B(), s.consumer_token(), "fanout", 0);
  MustShare(A(), s.agent_token(), "fanout", 11);
  MustShare(C(), s.agent_token(), "fanout", 12);  // tokens minted on A work on C
  MustShare(A(), s.agent_token(), "fanout", 13);
  ASSERT_TRUE(on_b.WaitFor(3));
  const auto events = on_b.events();
  ASSERT_EQ(on_b.sequences(), (std::vector<uint64_t>{1, 2, 3}));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(WidthOf(events[i]), 11 + i);
    ASSERT_GT(events[i].document_shared().document().previews_size(), 0);
    EXPECT_FALSE(events[i].document_shared().document().previews(0).data().empty());
  }
}

TEST_F(Replicas, LateJoinerAndResumeOnAnotherReplicaGetTheRestExactlyOnce) {
  const auto s = Start(A(), "resume");
  for (uint32_t w = 21; w <= 23; ++w) MustShare(A(), s.agent_token(), "resume", w);
  Watch late(B(), s.consumer_token(), "resume", 0);
  Watch resumed(C(), s.consumer_token(), "resume", 2);
  ASSERT_TRUE(late.WaitFor(3));
  ASSERT_TRUE(resumed.WaitFor(1));
  MustShare(A(), s.agent_token(), "resume", 24);
  ASSERT_TRUE(late.WaitFor(4));
  ASSERT_TRUE(resumed.WaitFor(2));
  EXPECT_EQ(late.sequences(), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(resumed.sequences(), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(WidthOf(resumed.events()[0]), 23);
}

TEST_F(Replicas, EndOnOneReplicaEndsWatchersOnAnother) {
  const auto s = Start(A(), "ending");
  MustShare(A(), s.agent_token(), "ending", 31);
  Watch on_a(A(), s.consumer_token(), "ending", 0);
  ASSERT_TRUE(on_a.WaitFor(1));
  v1::EndSessionResponse resp;
  grpc::Status ended = End(B(), "ending", &resp);
  ASSERT_TRUE(ended.ok()) << ended.error_message();
  EXPECT_EQ(resp.documents_purged(), 1u);
  EXPECT_TRUE(on_a.WaitDone().ok());
  ASSERT_EQ(on_a.events().size(), 2u);
  EXPECT_EQ(on_a.events()[1].sequence(), 2u);
  EXPECT_EQ(on_a.events()[1].session_ended().reason(), "ended");
  EXPECT_EQ(Share(C(), s.agent_token(), "ending", 32).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(End(A(), "ending", &resp).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(Replicas, ExpiryEndsTheSessionForWatchersOnEveryReplica) {
  // 3 s: both watch streams are open before it is due, even on a loaded
  // machine (a watch of an already-ended session is refused instead).
  const auto s = Start(A(), "expiring", 3);
  Watch on_b(B(), s.consumer_token(), "expiring", 0);
  Watch on_c(C(), s.consumer_token(), "expiring", 0);
  // Each replica sweeps once a second: the first to find it due ends it.
  EXPECT_TRUE(on_b.WaitDone().ok());
  EXPECT_TRUE(on_c.WaitDone().ok());
  for (Watch* w : {&on_b, &on_c}) {
    ASSERT_EQ(w->events().size(), 1u);
    EXPECT_EQ(w->events()[0].sequence(), 1u);
    EXPECT_EQ(w->events()[0].session_ended().reason(), "expired");
  }
}

TEST_F(Replicas, AWatcherOfAKilledReplicaResumesElsewhereWithNothingLostOrTwice) {
  const auto s = Start(A(), "killed");
  MustShare(A(), s.agent_token(), "killed", 41);
  MustShare(A(), s.agent_token(), "killed", 42);
  std::vector<v1::SessionEvent> seen;
  {
    Watch on_b(B(), s.consumer_token(), "killed", 0);
    ASSERT_TRUE(on_b.WaitFor(2));
    B().Kill(SIGKILL);
    EXPECT_FALSE(on_b.WaitDone().ok());
    seen = on_b.events();
  }
  MustShare(A(), s.agent_token(), "killed", 43);  // while the client reconnects
  const uint64_t last = seen.back().sequence();
  Watch on_c(C(), s.consumer_token(), "killed", last);
  MustShare(A(), s.agent_token(), "killed", 44);
  ASSERT_TRUE(on_c.WaitFor(4 - last));
  for (const auto& e : on_c.events()) seen.push_back(e);
  std::vector<uint64_t> sequences;
  std::vector<int> widths;
  for (const auto& e : seen) {
    sequences.push_back(e.sequence());
    widths.push_back(WidthOf(e));
  }
  EXPECT_EQ(sequences, (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(widths, (std::vector<int>{41, 42, 43, 44}));
  ASSERT_TRUE(B().Spawn());  // for the tests after this one
}

TEST_F(Replicas, RedisDownFailsFastAndReplicasRecoverWithoutARestart) {
  const auto s = Start(A(), "outage");
  MustShare(A(), s.agent_token(), "outage", 51);
  redis_->Stop();
  const auto start = std::chrono::steady_clock::now();
  const grpc::Status down = Share(A(), s.agent_token(), "outage", 52);
  EXPECT_EQ(down.error_code(), grpc::StatusCode::UNAVAILABLE) << down.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_TRUE(redis_->Start());  // empty: this Redis keeps nothing on disk
  for (Replica* r : {&A(), &B()}) ASSERT_TRUE(r->WaitServing());
  const auto again = Start(A(), "after-outage");
  Watch on_b(B(), again.consumer_token(), "after-outage", 0);
  MustShare(A(), again.agent_token(), "after-outage", 53);
  ASSERT_TRUE(on_b.WaitFor(1));
  EXPECT_EQ(WidthOf(on_b.events()[0]), 53);
}

}  // namespace
}  // namespace docshare::testing
