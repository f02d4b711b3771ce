// Issue 12, attack 6: memory and work from one token. Each cap is provoked
// over real gRPC on loopback and answers RESOURCE_EXHAUSTED before the call
// costs anything; the Admission unit below is checked against the metrics.
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "service/metrics/metrics.h"
#include "service/transport/admission.h"
#include "tests/integration/harness.h"
#include "tests/metrics/scrape.h"
#include "tests/support/files.h"

namespace docshare::testing {
namespace {

using ::testing::HasSubstr;

std::string Photo() { return ReadFile(CorpusPath("sharp/320x240.jpg")); }

class AttackMemory : public ServerTest {
 protected:
  void Configure(Config& config) override {
    config.max_inflight_upload_bytes = 1 << 20;
    config.max_session_watchers = 3;
    config.max_token_watchers = 2;
    config.token_check_file_rate = 1;  // bursts of 4
    config.token_share_rate = 1;
  }
  void SetUp() override {
    ServerTest::SetUp();
    session_ = StartSession("attack", 0, /*consumer_may_share=*/true);
  }
  // The server's metrics, to see when it has admitted an upload's header.
  Observer& AppObserver() override { return metrics_; }
  // Waits (30 s at most) until the in-flight upload bytes reach `bytes`.
  bool InflightReaches(double bytes) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      if (Value(*registry_, "docshare_inflight_upload_bytes").value_or(0) >= bytes) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }
  // A watch stream that has received the replay's first event (so the server
  // admitted it), kept open until the test ends.
  struct OpenWatch {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::SessionEvent>> reader;
  };
  std::unique_ptr<OpenWatch> Watch(const std::string& token, bool* admitted) {
    auto w = std::make_unique<OpenWatch>();
    w->ctx.AddMetadata("authorization", "Bearer " + token);
    w->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::WatchSessionRequest req;
    req.set_session_id("attack");
    w->reader = sessions_->WatchSession(&w->ctx, req);
    v1::SessionEvent event;
    *admitted = w->reader->Read(&event);
    return w;
  }
  std::shared_ptr<prometheus::Registry> registry_ =
      std::make_shared<prometheus::Registry>();
  Metrics metrics_{*registry_};
  v1::StartSessionResponse session_;
};

TEST_F(AttackMemory, UnfinishedUploadsCannotTakeMoreThanTheInflightBudget) {
  // An upload declaring 800 KiB holds the budget while it never finishes
  // (once the server has read its header: the client cannot see that).
  auto held =
      BeginUpload(session_.agent_token(), "attack", 800 << 10, Photo().substr(0, 4096));
  ASSERT_TRUE(held->open);
  ASSERT_TRUE(InflightReaches(800 << 10)) << "the held upload was never admitted";

  // Another share that declares 800 KiB is refused before any byte, with the
  // retryable code and no reject reason (no verdict on the file).
  ShareOptions declared;
  declared.size_bytes = 800 << 10;
  ShareResult refused = ServerTest::Share(session_.consumer_token(), "attack",
                                          std::string(8, 'x'), declared);
  ASSERT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << refused.status.error_message();
  EXPECT_THAT(refused.status.error_message(), HasSubstr("--max-inflight-upload-bytes"));
  EXPECT_EQ(refused.trailer("docshare-reject-reason"), "<absent>");

  // The held upload goes: its bytes are given back, and the same 800 KiB
  // share is admitted (and judged: it is not an image).
  held->Cancel();
  grpc::StatusCode code = grpc::StatusCode::RESOURCE_EXHAUSTED;
  for (int i = 0; i < 200 && code == grpc::StatusCode::RESOURCE_EXHAUSTED; ++i) {
    clock_.Advance(absl::Seconds(10));  // refills the per-token share rate
    code = ServerTest::Share(session_.consumer_token(), "attack",
                             std::string(800 << 10, 'x'))
               .status.error_code();
  }
  EXPECT_EQ(code, grpc::StatusCode::INVALID_ARGUMENT)
      << "the budget was never given back";
}

TEST_F(AttackMemory, OneTokenCannotOpenUnboundedWatchStreams) {
  ASSERT_TRUE(ServerTest::Share(session_.agent_token(), "attack", Photo()).status.ok());
  bool admitted = false;
  auto first = Watch(session_.consumer_token(), &admitted);
  ASSERT_TRUE(admitted);
  auto second = Watch(session_.consumer_token(), &admitted);
  ASSERT_TRUE(admitted);
  auto third = Watch(session_.consumer_token(), &admitted);
  EXPECT_FALSE(admitted);
  grpc::Status refused = third->reader->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("--max-token-watchers"));
  // The other participant's token has its own allowance...
  auto agent = Watch(session_.agent_token(), &admitted);
  EXPECT_TRUE(admitted);
  // ...until the session's cap (3) is reached, which the admin counts toward.
  auto admin = Watch(kAdminToken, &admitted);
  EXPECT_FALSE(admitted);
  refused = admin->reader->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("--max-session-watchers"));
  // A stream that ends gives its place back.
  first->ctx.TryCancel();
  first->reader->Finish();
  bool again = false;
  for (int i = 0; i < 100 && !again; ++i) {
    auto retry = Watch(session_.consumer_token(), &again);
    if (again) second = std::move(retry);
  }
  EXPECT_TRUE(again) << "the cancelled stream's place was never given back";
}

TEST_F(AttackMemory, CheckFileIsRateLimitedPerToken) {
  const std::string head = Photo().substr(0, 4096);
  v1::CheckFileResponse resp;
  for (int i = 0; i < 4; ++i) {  // the burst
    ASSERT_TRUE(Check(session_.agent_token(), head, &resp).ok()) << i;
  }
  grpc::Status limited = Check(session_.agent_token(), head, &resp);
  EXPECT_EQ(limited.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(limited.error_message(), HasSubstr("--token-check-file-rate"));
  EXPECT_TRUE(Check(session_.consumer_token(), head, &resp).ok()) << "another token";
  EXPECT_TRUE(Check(kAdminToken, head, &resp).ok()) << "the admin has no rate";
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(Check(session_.agent_token(), head, &resp).ok()) << "refilled";
}

TEST_F(AttackMemory, SharesAreRateLimitedPerToken) {
  for (int i = 0; i < 4; ++i) {  // refused files still count
    ShareResult r = ServerTest::Share(session_.agent_token(), "attack", "not an image");
    ASSERT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << i;
  }
  ShareResult limited = ServerTest::Share(session_.agent_token(), "attack", Photo());
  EXPECT_EQ(limited.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(limited.status.error_message(), HasSubstr("--token-share-rate"));
  EXPECT_TRUE(
      ServerTest::Share(session_.consumer_token(), "attack", Photo()).status.ok());
}

// The limits themselves, on a fake clock, counted in the real metrics.
class AdmissionUnit : public ::testing::Test {
 protected:
  double Refusals(const std::string& limit) {
    return Value(*registry_, "docshare_admission_refusals_total", {{"limit", limit}})
        .value_or(-1);
  }
  std::shared_ptr<prometheus::Registry> registry_ =
      std::make_shared<prometheus::Registry>();
  Metrics metrics_{*registry_};
  FakeClock clock_;
};

TEST_F(AdmissionUnit, WatchSlotsAreCountedAndGivenBack) {
  Admission admission({.max_session_watchers = 2, .max_token_watchers = 1}, clock_,
                      metrics_);
  EXPECT_EQ(Refusals("token_watchers"), 0);
  auto a = admission.AdmitWatch("s", "s/n/agent");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(admission.AdmitWatch("s", "s/n/agent").status()));
  EXPECT_EQ(Refusals("token_watchers"), 1);
  auto b = admission.AdmitWatch("s", "");  // the admin
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(admission.AdmitWatch("s", "").status()));
  EXPECT_EQ(Refusals("session_watchers"), 1);
  EXPECT_TRUE(admission.AdmitWatch("other", "").ok()) << "per session";
  *a = Admission::WatchSlot();  // released
  EXPECT_TRUE(admission.AdmitWatch("s", "s/n/agent").ok());
}

TEST_F(AdmissionUnit, RatesRefillWithTheClockAndZeroIsUnlimited) {
  Admission admission({.check_file_rate = 2, .share_rate = 0}, clock_, metrics_);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(admission.AllowCheckFile("t").ok()) << i;
  EXPECT_TRUE(absl::IsResourceExhausted(admission.AllowCheckFile("t")));
  EXPECT_EQ(Refusals("check_file_rate"), 1);
  clock_.Advance(absl::Milliseconds(500));
  EXPECT_TRUE(admission.AllowCheckFile("t").ok());
  EXPECT_TRUE(absl::IsResourceExhausted(admission.AllowCheckFile("t")));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(admission.AllowShare("t").ok());
  EXPECT_EQ(Refusals("share_rate"), 0);
}

}  // namespace
}  // namespace docshare::testing
