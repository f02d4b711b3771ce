// No event over 4 MiB: a 30-frame noise GIF of about 30 MB (accepted: under
// --max-file-bytes) once made a 13 MB display preview, an event no default
// gRPC client could receive. Its event now reaches a client with gRPC's
// default 4 MiB receive limit.
#include "absl/strings/str_cat.h"
#include "tests/integration/harness.h"
#include "tests/support/noise_gif.h"

namespace docshare::testing {
namespace {

class BigPreview : public ServerTest {
 protected:
  // The machine is shared and loaded: the render may take a while.
  void Configure(Config& config) override {
    config.isolation.timeout = absl::Seconds(240);
  }
};

TEST_F(BigPreview, AThirtyFrameNoiseGifReachesADefaultClient) {
  const std::string gif = NoiseGif();
  ASSERT_GT(gif.size(), 24'000'000u) << "the GIF must be big";
  ASSERT_LE(gif.size(), config_.limits.max_file_bytes) << "and still accepted";
  v1::StartSessionResponse s = StartSession("big");
  ShareResult shared = Share(s.agent_token(), "big", gif);
  ASSERT_TRUE(shared.status.ok()) << shared.status.error_message();
  const v1::Document& doc = shared.response.document();
  EXPECT_EQ(doc.frame_count(), 30u);
  for (const v1::Preview& p : doc.previews()) {
    EXPECT_LE(p.size_bytes(), config_.render.max_preview_bytes);
  }

  // gRPC's defaults: no channel arguments, so a 4 MiB receive limit.
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", app_->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::SessionService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + s.consumer_token());
  v1::WatchSessionRequest req;
  req.set_session_id("big");
  auto reader = stub->WatchSession(&ctx, req);
  v1::SessionEvent event;
  ASSERT_TRUE(reader->Read(&event)) << reader->Finish().error_message();
  EXPECT_LT(event.ByteSizeLong(), 4u << 20);
  const v1::Document& delivered = event.document_shared().document();
  ASSERT_EQ(delivered.previews_size(), 2);
  for (const v1::Preview& p : delivered.previews()) {
    EXPECT_EQ(p.data().size(), p.size_bytes());
    if (p.rendition() == v1::RENDITION_DISPLAY) {
      EXPECT_GT(p.size_bytes(), 64u << 10) << "an animation, not a stamp";
    }
  }
  ctx.TryCancel();
  reader->Finish();
}

}  // namespace
}  // namespace docshare::testing
