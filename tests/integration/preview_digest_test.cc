// Preview.size_bytes and Preview.sha256 are set wherever a preview is
// delivered: the share's response (which carries no data), live events and
// replays (which do).
#include <openssl/evp.h>

#include "tests/integration/harness.h"
#include "tests/support/files.h"

namespace docshare::testing {
namespace {

std::string Sha256(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EXPECT_EQ(
      EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr), 1);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    static constexpr char kHex[] = "0123456789abcdef";
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

using PreviewDigest = ServerTest;

TEST_F(PreviewDigest, SizeAndSha256AreSetInTheResponseEventsAndReplays) {
  v1::StartSessionResponse s = StartSession("digest");
  // A live watcher, subscribed before the share (its replay is empty).
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + s.consumer_token());
  v1::WatchSessionRequest req;
  req.set_session_id("digest");
  auto live = sessions_->WatchSession(&ctx, req);
  // Its first event is live or replayed, depending on when it subscribed.

  ShareResult shared =
      Share(s.agent_token(), "digest", ReadFile(CorpusPath("sharp/320x240.jpg")));
  ASSERT_TRUE(shared.status.ok()) << shared.status.error_message();
  v1::SessionEvent event;
  ASSERT_TRUE(live->Read(&event));
  std::vector<v1::SessionEvent> replay = ReadEvents(s.agent_token(), "digest", 0, 1);
  ASSERT_EQ(replay.size(), 1u);

  const v1::Document& response = shared.response.document();
  ASSERT_EQ(response.previews_size(), 2);
  for (const v1::SessionEvent* delivered : {&event, &replay[0]}) {
    const v1::Document& d = delivered->document_shared().document();
    ASSERT_EQ(d.previews_size(), 2);
    for (int i = 0; i < 2; ++i) {
      const v1::Preview& p = d.previews(i);
      ASSERT_FALSE(p.data().empty());
      EXPECT_EQ(p.size_bytes(), p.data().size());
      EXPECT_EQ(p.sha256(), Sha256(p.data()));
      // The response has no bytes, but the same size and digest.
      EXPECT_TRUE(response.previews(i).data().empty());
      EXPECT_EQ(response.previews(i).size_bytes(), p.size_bytes());
      EXPECT_EQ(response.previews(i).sha256(), p.sha256());
    }
    EXPECT_NE(d.previews(0).sha256(), d.previews(1).sha256());
  }
  ctx.TryCancel();
}

}  // namespace
}  // namespace docshare::testing
