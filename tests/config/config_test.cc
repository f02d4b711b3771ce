#include "service/config/config.h"

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace docshare {
namespace {

// The message of a failed load or validation, or "" when both pass.
std::string ErrorOf(const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env = {}) {
  absl::StatusOr<Config> config = LoadConfig(args, env);
  if (!config.ok()) return std::string(config.status().message());
  absl::Status valid = config->Validate();
  return std::string(valid.message());
}

TEST(Config, DefaultsAreTheDocumentedOnesAndValid) {
  absl::StatusOr<Config> c = LoadConfig({}, {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->grpc_address, "0.0.0.0:50051");
  EXPECT_EQ(c->metrics_address, "[::]:9464");
  EXPECT_EQ(c->limits.max_file_bytes, 33554432u);
  EXPECT_EQ(c->limits.max_pixels, 50000000u);
  EXPECT_EQ(c->limits.max_frames, 300);
  EXPECT_EQ(c->limits.max_animation_pixels, 200000000u);
  EXPECT_EQ(c->render.display_size, 1600);
  EXPECT_EQ(c->render.thumbnail_size, 256);
  EXPECT_EQ(c->render.format, PreviewFormat::kWebp);
  EXPECT_EQ(c->render.quality, 80);
  EXPECT_EQ(c->render.webp_effort, 2);
  EXPECT_EQ(c->session_ttl, absl::Seconds(7200));
  EXPECT_EQ(c->backplane, BackplaneConfig(MemoryBackplaneConfig{}));
  EXPECT_EQ(c->isolation.mode, RenderIsolation::kProcess);
  EXPECT_EQ(c->isolation.heap_keep_bytes, 67108864u);
  EXPECT_EQ(c->log_level, LogLevel::kInfo);
  EXPECT_EQ(c->render.max_preview_bytes, 2097152u);
  EXPECT_TRUE(c->Validate().ok()) << c->Validate();
}

TEST(Config, FlagsWinOverEnvironment) {
  absl::StatusOr<Config> c =
      LoadConfig({"--max-frames=10", "--display-size", "800"},
                 {{"DOCSHARE_MAX_FRAMES", "20"}, {"DOCSHARE_SESSION_TTL", "60"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.max_frames, 10);
  EXPECT_EQ(c->render.display_size, 800);
  EXPECT_EQ(c->session_ttl, absl::Seconds(60));
}

TEST(Config, EveryValueIsParsedIntoItsType) {
  absl::StatusOr<Config> c = LoadConfig(
      {"--preview-format=jpeg", "--log-level=debug", "--render-isolation=thread",
       "--render-timeout=3", "--upload-timeout=9", "--drain-timeout=0",
       "--max-session-documents=7", "--render-memory-limit=1000000",
       "--render-heap-keep-bytes=0", "--backplane=redis://cache.internal:6380/2",
       "--token-secret=a-token-secret-of-32-bytes-or-more"},
      {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->render.format, PreviewFormat::kJpeg);
  EXPECT_EQ(c->log_level, LogLevel::kDebug);
  EXPECT_EQ(c->isolation.mode, RenderIsolation::kThread);
  EXPECT_EQ(c->isolation.timeout, absl::Seconds(3));
  EXPECT_EQ(c->isolation.memory_limit, 1000000u);
  EXPECT_EQ(c->isolation.heap_keep_bytes, 0u);
  EXPECT_EQ(c->upload_timeout, absl::Seconds(9));
  EXPECT_EQ(c->drain_timeout, absl::ZeroDuration());
  EXPECT_EQ(c->session_caps.max_documents, 7);
  EXPECT_EQ(c->backplane,
            BackplaneConfig(RedisBackplaneConfig{"cache.internal", 6380, 2}));
  EXPECT_TRUE(c->Validate().ok()) << c->Validate();
}

TEST(Config, RedisUrlsParseWithTheirDefaults) {
  struct Case {
    std::string url;
    RedisBackplaneConfig want;
  };
  for (const Case& c : std::vector<Case>{
           {"redis://h", {"h", 6379, 0}},
           {"redis://h:7000", {"h", 7000, 0}},
           {"redis://h/3", {"h", 6379, 3}},
           {"redis://10.0.0.5:6380/1", {"10.0.0.5", 6380, 1}},
           {"redis://[::1]:6390", {"::1", 6390, 0}},
           {"redis://[fd00::7]", {"fd00::7", 6379, 0}},
       }) {
    absl::StatusOr<BackplaneConfig> parsed = ParseBackplane(c.url);
    ASSERT_TRUE(parsed.ok()) << c.url << ": " << parsed.status();
    EXPECT_EQ(*parsed, BackplaneConfig(c.want)) << c.url;
    // The start-up log shows a URL that parses back to the same address.
    EXPECT_EQ(*ParseBackplane(BackplaneUrl(*parsed)), *parsed) << BackplaneUrl(*parsed);
  }
  EXPECT_EQ(BackplaneUrl(MemoryBackplaneConfig{}), "memory");
}

// Each malformed URL is refused at load, naming --backplane and what is wrong
// (these used to pass Validate and abort the server with exit 134).
TEST(Config, MalformedBackplaneNamesTheOptionAndTheFault) {
  struct Case {
    std::string url;
    std::string why;
  };
  for (const Case& c : std::vector<Case>{
           {"redis://h:abc", "\"redis://h:abc\" has a port that is not a number"},
           {"redis://:6379", "\"redis://:6379\" has no host"},
           {"redis://h:99999", "has a port that is not a number from 1 to 65535"},
           {"redis://h:0", "has a port that is not a number from 1 to 65535"},
           {"redis://h:", "has an empty port"},
           {"redis://h/x", "\"redis://h/x\" has a database that is not a number"},
           {"redis://h/-1", "has a database that is not a number"},
           {"redis://h/", "has a database that is not a number"},
           {"redis://", "has no host"},
           {"redis://user@h", "has credentials that are not user:password"},
           {"redis://[::1", "lacks the ']' of its IPv6 address"},
           {"redis://[::1]x", "has text after its IPv6 address"},
           {"memcached://h", "\"memcached://h\" is neither memory nor redis://"},
           {"Memory", "neither memory nor redis://"},
       }) {
    absl::StatusOr<Config> config = LoadConfig({"--backplane=" + c.url}, {});
    ASSERT_FALSE(config.ok()) << c.url;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << c.url;
    const std::string message(config.status().message());
    EXPECT_EQ(message.rfind("--backplane: ", 0), 0u) << message;
    EXPECT_NE(message.find(c.why), std::string::npos) << c.url << ": " << message;
  }
}

TEST(Config, BadValuesNameTheOptionAtLoad) {
  struct Case {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"--max-frames=many"}, {}, "--max-frames: \"many\" is not a whole number"},
           {{"--max-frames=3x"}, {}, "--max-frames: \"3x\" is not a whole number"},
           {{"--max-frames="}, {}, "--max-frames: \"\" is not a whole number"},
           {{"--max-frames=99999999999"}, {}, "is not a whole number from"},
           {{"--max-pixels=-1"}, {}, "--max-pixels: \"-1\" is not a whole number from 0"},
           {{}, {{"DOCSHARE_MAX_PIXELS", "-1"}}, "DOCSHARE_MAX_PIXELS (--max-pixels)"},
           {{"--preview-format=bmp"},
            {},
            "--preview-format: \"bmp\" is not one of webp,"},
           {{"--preview-format=WEBP"}, {}, "is not one of webp, jpeg, png, gif"},
           {{"--log-level=loud"}, {}, "--log-level: \"loud\" is not one of debug,"},
           {{"--render-isolation=none"},
            {},
            "--render-isolation: \"none\" is not one of"},
           {{"--session-ttl=1h"}, {}, "--session-ttl: \"1h\" is not a number of seconds"},
           {{"--upload-timeout=-5"}, {}, "--upload-timeout: \"-5\" is not a number of"},
           {{"--backplane"}, {}, "--backplane needs a value"},
       }) {
    EXPECT_NE(ErrorOf(c.args, c.env).find(c.message), std::string::npos)
        << (c.args.empty() ? "env" : c.args[0]) << ": " << ErrorOf(c.args, c.env);
  }
}

TEST(Config, ABareBooleanOptionIsTrue) {
  struct Case {
    std::vector<std::string> args;
    bool demo;
  };
  for (const Case& c : std::vector<Case>{{{"--demo"}, true},
                                         {{"--demo", "--max-frames=3"}, true},
                                         {{"--demo", "false"}, false},
                                         {{"--demo=false"}, false},
                                         {{"--demo", "true"}, true}}) {
    absl::StatusOr<Config> config = LoadConfig(c.args, {});
    ASSERT_TRUE(config.ok()) << c.args[0] << ": " << config.status();
    EXPECT_EQ(config->demo, c.demo) << absl::StrJoin(c.args, " ");
  }
  EXPECT_EQ(LoadConfig({"--demo", "--max-frames=3"}, {})->limits.max_frames, 3);
  EXPECT_NE(ErrorOf({"--demo=maybe"}, {}).find("--demo: \"maybe\" is not true or false"),
            std::string::npos)
      << ErrorOf({"--demo=maybe"}, {});
  EXPECT_NE(ErrorOf({"--max-frames"}, {}).find("--max-frames needs a value"),
            std::string::npos);
}

TEST(Config, UnknownOptionIsCalledUnknownWithOrWithoutAValue) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--no-such-flag"},
                                             {"--no-such-flag=1"},
                                             {"--no-such-flag", "1"},
                                             {"--max-frame=3"}}) {
    absl::StatusOr<Config> c = LoadConfig(args, {});
    ASSERT_FALSE(c.ok()) << args[0];
    EXPECT_NE(std::string(c.status().message()).find("unknown option --"),
              std::string::npos)
        << c.status();
  }
  EXPECT_NE(std::string(LoadConfig({"stray"}, {}).status().message())
                .find("unexpected argument \"stray\""),
            std::string::npos);
}

TEST(Config, ValidateNamesTheBadOption) {
  struct Case {
    std::vector<std::string> args;
    std::string names;
  };
  for (const Case& c : std::vector<Case>{
           {{"--preview-quality=0"}, "--preview-quality"},
           {{"--webp-effort=7"}, "--webp-effort"},
           {{"--max-preview-bytes=1000"}, "--max-preview-bytes"},
           {{"--max-preview-bytes=4194304"}, "--max-preview-bytes"},
           {{"--thumbnail-size=2000"}, "--thumbnail-size"},
           {{"--display-size=0"}, "--display-size"},
           {{"--redis-ca=ca.pem"}, "--redis-ca"},
           {{"--backplane=redis://x", "--token-secret=a-token-secret-of-32-bytes-or-more",
             "--redis-cert=c.pem"},
            "--redis-cert"},
           {{"--redis-password-file=/nonexistent"}, "--redis-password-file"},
           {{"--backplane=redis://x:6379"}, "--token-secret"},
           {{"--tls-cert=a.pem"}, "--tls-"},
           {{"--tls-client-ca=ca.pem"}, "--tls-client-ca"},
           {{"--max-animation-pixels=10"}, "--max-animation-pixels"},
           {{"--max-file-bytes=0"}, "--max-file-bytes"},
           {{"--max-frames=0"}, "--max-frames"},
           {{"--watcher-queue=0"}, "--watcher-queue"},
           {{"--render-workers=300"}, "--render-workers"},
           {{"--render-queue=-1"}, "--render-queue"},
           {{"--render-heap-keep-bytes=1073741825"}, "--render-heap-keep-bytes"},
           {{"--render-timeout=0"}, "--render-timeout"},
           {{"--session-ttl=0"}, "--session-ttl"},
           {{"--upload-timeout=0"}, "--upload-timeout"},
           {{"--max-session-documents=0"}, "--max-session-documents"},
           {{"--max-concurrent-streams=0"}, "--max-concurrent-streams"},
           {{"--http2-max-header-block-bytes=-1"}, "--http2-max-header-block-bytes"},
           {{"--http2-max-resets-per-second=-1"}, "--http2-max-resets-per-second"},
           {{"--redis-call-threads=0"}, "--redis-call-threads"},
           {{"--redis-call-queue=0"}, "--redis-call-queue"},
           {{"--grpc-address="}, "--grpc-address: \"\" is not host:port"},
           {{"--grpc-address=:99999"}, "--grpc-address: \":99999\": the port is not"},
           {{"--grpc-address=:-1"}, "--grpc-address: \":-1\": the port is not"},
           {{"--grpc-address=127.0.0.1:http"}, "--grpc-address"},
           {{"--grpc-address=localhost"}, "--grpc-address"},
           {{"--grpc-address=::1:50051"}, "--grpc-address: \"::1:50051\": an IPv6"},
           {{"--metrics-address=0.0.0.0:70000"}, "--metrics-address"},
       }) {
    absl::StatusOr<Config> config = LoadConfig(c.args, {});
    ASSERT_TRUE(config.ok()) << c.args[0] << ": " << config.status();
    absl::Status valid = config->Validate();
    EXPECT_FALSE(valid.ok()) << c.args[0];
    EXPECT_NE(std::string(valid.message()).find(c.names), std::string::npos)
        << c.args[0] << ": " << valid.message();
  }
}

TEST(Config, ListenAddressesThatAreFine) {
  for (const char* address : {"0.0.0.0:50051", "127.0.0.1:0", "[::]:50051", ":50051",
                              "[::1]:65535", "localhost:1", "unix:/tmp/docshare.sock"}) {
    EXPECT_TRUE(CheckListenAddress(address).ok()) << address;
  }
}

TEST(Config, EffectiveMasksSecretsAndShowsParsedValues) {
  auto c = LoadConfig({"--admin-token=sekrit", "--token-secret=hush",
                       "--backplane=redis://r", "--preview-format=png"},
                      {});
  ASSERT_TRUE(c.ok());
  for (const auto& [name, value] : c->Effective()) {
    EXPECT_EQ(value.find("sekrit"), std::string::npos) << name;
    EXPECT_EQ(value.find("hush"), std::string::npos) << name;
  }
  EXPECT_EQ(c->Effective()["admin-token"], "(set)");
  EXPECT_EQ(c->Effective()["backplane"], "redis://r:6379/0");
  EXPECT_EQ(c->Effective()["preview-format"], "png");
  EXPECT_EQ(c->Effective()["session-ttl"], "7200");
}

TEST(Config, HelpSaysEachDefaultOnce) {
  absl::Status help = LoadConfig({"--help"}, {}).status();
  ASSERT_TRUE(absl::IsNotFound(help));
  const std::string usage(help.message());
  size_t options = 0;
  for (size_t at = usage.find("\n  --"); at != std::string::npos;
       at = usage.find("\n  --", at + 1)) {
    const size_t end = usage.find("\n  --", at + 1);
    const std::string entry = usage.substr(at, end - at);
    EXPECT_EQ(entry.find("default"), entry.rfind("default")) << entry;
    EXPECT_NE(entry.find("; default: "), std::string::npos) << entry;
    EXPECT_EQ(entry.find("; default: \n"), std::string::npos)
        << "an empty default" << entry;
    ++options;
  }
  EXPECT_EQ(options, Config{}.Effective().size());
  EXPECT_NE(usage.find("--backplane (DOCSHARE_BACKPLANE)"), std::string::npos);
  EXPECT_NE(usage.find("default: memory"), std::string::npos);
  EXPECT_NE(usage.find("--admin-token (DOCSHARE_ADMIN_TOKEN)"), std::string::npos);
  EXPECT_NE(usage.find("kept off the command line); default: (unset)"),
            std::string::npos);
}

}  // namespace
}  // namespace docshare

namespace docshare {
namespace {

// Issue 12 attack 7: the preview cache is per session unless asked otherwise.
TEST(Config, PreviewCacheScopeIsSessionByDefault) {
  absl::StatusOr<Config> c = LoadConfig({}, {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->preview_cache_scope, CacheScope::kSession);
  c = LoadConfig({"--preview-cache-scope=global"}, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->preview_cache_scope, CacheScope::kGlobal);
  c = LoadConfig({}, {{"DOCSHARE_PREVIEW_CACHE_SCOPE", "global"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->preview_cache_scope, CacheScope::kGlobal);
  c = LoadConfig({"--preview-cache-scope=everyone"}, {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(
      c.status().message().find("--preview-cache-scope: \"everyone\" is not one of"),
      std::string::npos)
      << c.status();
}

}  // namespace
}  // namespace docshare
