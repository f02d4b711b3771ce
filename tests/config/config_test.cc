#include "service/config/config.h"

#include "gtest/gtest.h"

namespace docshare {
namespace {

TEST(Config, DefaultsAreTheDocumentedOnesAndValid) {
  absl::StatusOr<Config> c = LoadConfig({}, {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->grpc_address, "0.0.0.0:50051");
  EXPECT_EQ(c->metrics_address, "0.0.0.0:9464");
  EXPECT_EQ(c->max_file_bytes, 33554432u);
  EXPECT_EQ(c->max_pixels, 50000000u);
  EXPECT_EQ(c->max_frames, 300);
  EXPECT_EQ(c->max_animation_pixels, 200000000u);
  EXPECT_EQ(c->display_size, 1600);
  EXPECT_EQ(c->thumbnail_size, 256);
  EXPECT_EQ(c->preview_format, "webp");
  EXPECT_EQ(c->preview_quality, 80);
  EXPECT_EQ(c->webp_effort, 2);
  EXPECT_EQ(c->session_ttl, 7200);
  EXPECT_EQ(c->backplane, "memory");
  EXPECT_TRUE(c->Validate().ok()) << c->Validate();
}

TEST(Config, FlagsWinOverEnvironment) {
  absl::StatusOr<Config> c =
      LoadConfig({"--max-frames=10", "--display-size", "800"},
                 {{"DOCSHARE_MAX_FRAMES", "20"}, {"DOCSHARE_SESSION_TTL", "60"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_frames, 10);
  EXPECT_EQ(c->display_size, 800);
  EXPECT_EQ(c->session_ttl, 60);
}

TEST(Config, BadInputNamesTheOption) {
  auto unknown = LoadConfig({"--max-frame=3"}, {});
  EXPECT_NE(std::string(unknown.status().message()).find("--max-frame"), std::string::npos);
  auto nan = LoadConfig({"--max-frames=many"}, {});
  EXPECT_NE(std::string(nan.status().message()).find("--max-frames"), std::string::npos);
  auto env = LoadConfig({}, {{"DOCSHARE_MAX_PIXELS", "-1"}});
  EXPECT_NE(std::string(env.status().message()).find("DOCSHARE_MAX_PIXELS"), std::string::npos);
  auto missing = LoadConfig({"--backplane"}, {});
  EXPECT_FALSE(missing.ok());
  EXPECT_TRUE(absl::IsNotFound(LoadConfig({"--help"}, {}).status()));
}

TEST(Config, ValidateNamesTheBadOption) {
  struct Case {
    std::vector<std::string> args;
    std::string names;
  };
  for (const Case& c : std::vector<Case>{
           {{"--preview-format=bmp"}, "--preview-format"},
           {{"--preview-quality=0"}, "--preview-quality"},
           {{"--webp-effort=7"}, "--webp-effort"},
           {{"--thumbnail-size=2000"}, "--thumbnail-size"},
           {{"--backplane=rediss://x:6380"}, "--backplane"},
           {{"--backplane=memcached://x"}, "--backplane"},
           {{"--backplane=redis://x:6379"}, "--token-secret"},
           {{"--tls-cert=a.pem"}, "--tls-"},
           {{"--tls-client-ca=ca.pem"}, "--tls-client-ca"},
           {{"--log-level=loud"}, "--log-level"},
           {{"--max-animation-pixels=10"}, "--max-animation-pixels"},
           {{"--watcher-queue=0"}, "--watcher-queue"},
       }) {
    absl::StatusOr<Config> config = LoadConfig(c.args, {});
    ASSERT_TRUE(config.ok()) << c.args[0];
    absl::Status valid = config->Validate();
    EXPECT_FALSE(valid.ok()) << c.args[0];
    EXPECT_NE(std::string(valid.message()).find(c.names), std::string::npos)
        << c.args[0] << ": " << valid.message();
  }
}

TEST(Config, EffectiveMasksSecrets) {
  auto c = LoadConfig({"--admin-token=sekrit", "--token-secret=hush"}, {});
  ASSERT_TRUE(c.ok());
  for (const auto& [name, value] : c->Effective()) {
    EXPECT_EQ(value.find("sekrit"), std::string::npos) << name;
    EXPECT_EQ(value.find("hush"), std::string::npos) << name;
  }
  EXPECT_EQ(c->Effective()["admin-token"], "(set)");
}

}  // namespace
}  // namespace docshare
