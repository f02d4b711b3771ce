// Issue 11: with Redis, session calls wait for Redis on the store's own
// threads (--redis-call-threads), behind a bounded queue (--redis-call-queue).
// When Redis stops answering and the queue is full, a further call is
// refused at once: RESOURCE_EXHAUSTED over gRPC, 503 with Retry-After over
// HTTP. Nothing hangs, and once Redis answers again the service does too.
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/metrics/scrape.h"
#include "tests/support/redis_server.h"

namespace docshare::testing {
namespace {

constexpr int kCalls = 8;

class StoreBusy : public ServerTest {
 protected:
  void Configure(Config& config) override {
    config.backplane = LocalRedis(redis_.port());
    config.redis_call_threads = 1;
    config.redis_call_queue = 1;
  }
  void SetUp() override {
    ASSERT_TRUE(redis_.ok());
    ServerTest::SetUp();
    session_ = StartSession("busy");
  }
  // Resumes Redis however the test ends.
  void TearDown() override {
    redis_.Resume();
    ServerTest::TearDown();
  }

  RedisServer redis_;
  v1::StartSessionResponse session_;
};

TEST_F(StoreBusy, AFullQueueIsResourceExhaustedOverGrpc) {
  redis_.Pause();
  // kCalls GetSession calls at once: one waits on the store's thread for
  // Redis (1 s command timeout), one in the queue, the rest are refused.
  struct Call {
    grpc::ClientContext ctx;
    v1::GetSessionRequest req;
    v1::Session resp;
    grpc::Status status;
    bool done = false;
  };
  grpc::CompletionQueue cq;
  auto stub = v1::SessionService::NewStub(NewChannel());
  std::vector<std::unique_ptr<Call>> calls;
  std::vector<std::unique_ptr<grpc::ClientAsyncResponseReader<v1::Session>>> readers;
  for (int i = 0; i < kCalls; ++i) {
    auto c = std::make_unique<Call>();
    c->ctx.AddMetadata("authorization", "Bearer " + session_.agent_token());
    c->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    c->req.set_session_id("busy");
    readers.push_back(stub->AsyncGetSession(&c->ctx, c->req, &cq));
    readers.back()->Finish(&c->resp, &c->status, c.get());
    calls.push_back(std::move(c));
  }
  for (int i = 0; i < kCalls; ++i) {
    void* tag = nullptr;
    bool ok = false;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    static_cast<Call*>(tag)->done = true;
  }
  int busy = 0;
  for (const auto& c : calls) {
    ASSERT_TRUE(c->done);
    EXPECT_NE(c->status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << "a call hung";
    if (c->status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++busy;
      EXPECT_EQ(c->status.error_message(),
                "too many session calls are waiting for the session store; retry later");
    }
  }
  EXPECT_GE(busy, 1) << "no call was refused with the store's one thread and queue taken";
  EXPECT_LE(busy, kCalls - 1) << "the first call must have reached the store";
  redis_.Resume();
  // Redis answers again: so does the service (the store recovers by itself).
  bool answered = false;
  for (int i = 0; i < 50 && !answered; ++i) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + session_.agent_token());
    v1::GetSessionRequest req;
    req.set_session_id("busy");
    v1::Session resp;
    answered = sessions_->GetSession(&ctx, req, &resp).ok();
    if (!answered) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(answered);
}

TEST_F(StoreBusy, AFullQueueIs503WithRetryAfterOverHttp) {
  redis_.Pause();
  const std::string path = "/v1/sessions/busy?access_token=" + session_.agent_token();
  std::vector<HttpResponse> responses(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back(
        [&, i] { responses[i] = HttpRequest(app_->http_port(), "GET", path); });
  }
  for (auto& t : threads) t.join();
  int busy = 0;
  for (const HttpResponse& r : responses) {
    EXPECT_NE(r.status, 0) << "a request got no answer";
    if (r.status == 503 && r.body.find("busy") != std::string::npos) {
      ++busy;
      EXPECT_NE(r.headers.find("Retry-After:"), std::string::npos) << r.headers;
    }
  }
  EXPECT_GE(busy, 1)
      << "no request was refused with the store's one thread and queue taken";
  redis_.Resume();
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    status = HttpRequest(app_->http_port(), "GET", path).status;
    if (status != 200) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(status, 200);
}

}  // namespace
}  // namespace docshare::testing
