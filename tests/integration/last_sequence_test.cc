// WatchSession's initial metadata docshare-last-sequence: the log's end when
// the watch began, sent before any event.
#include "tests/integration/harness.h"
#include "tests/support/files.h"
#include "tests/support/hostile.h"

namespace docshare::testing {
namespace {

class LastSequence : public ServerTest {
 protected:
  // Opens a watch and waits for its initial metadata (no event is read).
  std::string Header(uint64_t after) {
    contexts_.push_back(std::make_unique<grpc::ClientContext>());
    grpc::ClientContext& ctx = *contexts_.back();
    ctx.AddMetadata("authorization", "Bearer " + std::string(kAdminToken));
    v1::WatchSessionRequest req;
    req.set_session_id("seq");
    req.set_after_sequence(after);
    readers_.push_back(sessions_->WatchSession(&ctx, req));
    v1::SessionEvent first;  // the header comes with the first event
    EXPECT_TRUE(readers_.back()->Read(&first));
    const auto& metadata = ctx.GetServerInitialMetadata();
    EXPECT_EQ(metadata.count("docshare-last-sequence"), 1u);
    auto it = metadata.find("docshare-last-sequence");
    return it == metadata.end() ? "<absent>"
                                : std::string(it->second.data(), it->second.size());
  }
  void TearDown() override {
    for (auto& ctx : contexts_) ctx->TryCancel();
    for (auto& reader : readers_) reader->Finish();
    ServerTest::TearDown();
  }
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts_;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::SessionEvent>>> readers_;
};

TEST_F(LastSequence, IsTheLogsEndWhenTheWatchBeganSentBeforeAnyEvent) {
  v1::StartSessionResponse s = StartSession("seq");
  for (int i = 0; i < 2; ++i) {
    ShareResult r = Share(s.agent_token(), "seq", SmallJpeg(32 + i, 24));
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  }
  EXPECT_EQ(Header(0), "2");
  EXPECT_EQ(Header(1), "2");

  // The first watch read 1; it replays 2, then 3 arrives live.
  v1::SessionEvent event;
  auto& reader = *readers_[0];
  for (uint64_t want : {2u}) {
    ASSERT_TRUE(reader.Read(&event));
    EXPECT_EQ(event.sequence(), want);
  }
  ASSERT_TRUE(Share(s.agent_token(), "seq", SmallJpeg(40, 30)).status.ok());
  ASSERT_TRUE(reader.Read(&event));
  EXPECT_EQ(event.sequence(), 3u);
}

}  // namespace
}  // namespace docshare::testing
