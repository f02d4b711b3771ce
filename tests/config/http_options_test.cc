// The HTTP listener's options: defaults, flags and environment, and a
// validation error naming the option for each bad value.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/config/config.h"

namespace docshare {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(HttpOptions, Defaults) {
  absl::StatusOr<Config> c = LoadConfig({}, {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->http_address, "0.0.0.0:8080");
  EXPECT_EQ(c->cors_origins, "");
  EXPECT_EQ(c->public_url, "");
  EXPECT_EQ(c->preview_url_ttl, absl::Seconds(600));
}

TEST(HttpOptions, FlagsAndEnvironment) {
  absl::StatusOr<Config> c =
      LoadConfig({"--http-address=[::]:9000", "--preview-url-ttl=30"},
                 {{"DOCSHARE_CORS_ORIGINS", "https://a.example, http://localhost:3000"},
                  {"DOCSHARE_PUBLIC_URL", "https://docshare.example.com"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->Validate().ok()) << c->Validate();
  EXPECT_EQ(c->http_address, "[::]:9000");
  EXPECT_EQ(c->preview_url_ttl, absl::Seconds(30));
  EXPECT_EQ(c->public_url, "https://docshare.example.com");
  EXPECT_THAT(ParseOrigins(c->cors_origins).value(),
              ElementsAre("https://a.example", "http://localhost:3000"));
}

TEST(HttpOptions, OffIsValid) {
  absl::StatusOr<Config> c = LoadConfig({"--http-address=off"}, {});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->Validate().ok());
}

TEST(HttpOptions, BadValuesNameTheOption) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--http-address=", "--http-address"},
      {"--http-address=8080", "--http-address"},
      {"--cors-origins=*", "--cors-origins"},
      {"--cors-origins=https://a.example/path", "--cors-origins"},
      {"--cors-origins=ftp://a.example", "--cors-origins"},
      {"--public-url=docshare.example.com", "--public-url"},
      {"--public-url=https://a.example,https://b.example", "--public-url"},
      {"--preview-url-ttl=0", "--preview-url-ttl"},
  };
  for (const auto& [flag, option] : cases) {
    absl::StatusOr<Config> c = LoadConfig({flag}, {});
    ASSERT_TRUE(c.ok()) << flag;
    const absl::Status valid = c->Validate();
    EXPECT_FALSE(valid.ok()) << flag;
    EXPECT_THAT(valid.message(), HasSubstr(option)) << flag;
  }
}

}  // namespace
}  // namespace docshare
