// Issue 12, attack 8: weak secrets, secrets on the command line, rotation;
// and the admission flags' validation.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/config/config.h"

namespace docshare {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kAdmin(40, 'a');
const std::string kSecret = "0123456789abcdef0123456789abcdef";
const std::string kPrevious = "fedcba9876543210fedcba9876543210";

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / (name + "-" + std::to_string(getpid()));
  std::ofstream(path) << text;
  return path.string();
}

absl::Status Validated(const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env = {}) {
  absl::StatusOr<Config> config = LoadConfig(args, env);
  if (!config.ok()) return config.status();
  return config->Validate();
}

TEST(Secrets, AWeakAdminTokenOrSecretIsRefusedNamingTheOption) {
  absl::Status s = Validated({"--admin-token=a"});
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("--admin-token: "));
  EXPECT_THAT(std::string(s.message()), HasSubstr("at least 32 bytes"));
  s = Validated({"--token-secret=s"});
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("--token-secret: "));
  s = Validated({}, {{"DOCSHARE_TOKEN_SECRET", kSecret + ",short"}});
  EXPECT_FALSE(s.ok()) << "a previous secret must be as strong";
  EXPECT_TRUE(Validated({"--admin-token=" + kAdmin, "--token-secret=" + kSecret}).ok());
  EXPECT_TRUE(Validated({}).ok()) << "unset: random, strong";
}

TEST(Secrets, FilesAreReadAndTheirNameIsGivenWhenWeak) {
  const std::string admin = WriteTemp("admin-token", kAdmin + "\n");
  const std::string secrets =
      WriteTemp("token-secret", kSecret + "\n\n" + kPrevious + "\n");
  absl::StatusOr<Config> c =
      LoadConfig({"--admin-token-file=" + admin, "--token-secret-file", secrets}, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->Validate().ok()) << c->Validate();
  EXPECT_EQ(c->admin_token, kAdmin) << "the newline is not part of it";
  EXPECT_THAT(c->TokenSecrets(), ElementsAre(kSecret, kPrevious));
  EXPECT_EQ(c->Effective()["token-secret"], "(set)");
  EXPECT_EQ(c->Effective()["admin-token-file"], admin) << "a path is not a secret";

  const std::string weak = WriteTemp("weak-token", "let-me-in\n");
  absl::Status s = Validated({}, {{"DOCSHARE_ADMIN_TOKEN_FILE", weak}});
  EXPECT_THAT(std::string(s.message()), HasSubstr("--admin-token-file: "));
  for (const std::string& path : {admin, secrets, weak}) std::filesystem::remove(path);
}

TEST(Secrets, AMissingOrEmptyFileAndBothFormsAreErrors) {
  absl::StatusOr<Config> c = LoadConfig({"--token-secret-file=/nonexistent/secret"}, {});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("--token-secret-file"));
  const std::string empty = WriteTemp("empty-secret", "\n");
  c = LoadConfig({"--token-secret-file=" + empty}, {});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("is empty"));
  const std::string admin = WriteTemp("admin-token-2", kAdmin);
  c = LoadConfig({"--admin-token=" + kAdmin, "--admin-token-file=" + admin}, {});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("exclusive"));
  std::filesystem::remove(empty);
  std::filesystem::remove(admin);
}

TEST(Secrets, RotationListsTheCurrentSecretFirst) {
  absl::StatusOr<Config> c =
      LoadConfig({"--token-secret=" + kSecret + "," + kPrevious}, {});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->Validate().ok());
  EXPECT_THAT(c->TokenSecrets(), ElementsAre(kSecret, kPrevious));
}

TEST(AdmissionFlags, DefaultsAndNegativesAreRefused) {
  Config defaults;
  EXPECT_EQ(defaults.max_inflight_upload_bytes, 268435456u);
  EXPECT_EQ(defaults.max_session_renders, 4);
  EXPECT_EQ(defaults.max_session_watchers, 1000);
  EXPECT_EQ(defaults.max_token_watchers, 32);
  EXPECT_EQ(defaults.token_check_file_rate, 50);
  EXPECT_EQ(defaults.token_share_rate, 2);
  EXPECT_EQ(defaults.grpc_memory_limit, 536870912u);
  for (const char* flag :
       {"max-session-renders", "max-session-watchers", "max-token-watchers",
        "token-check-file-rate", "token-share-rate"}) {
    absl::Status s = Validated({std::string("--") + flag + "=-1"});
    EXPECT_THAT(std::string(s.message()), HasSubstr(std::string("--") + flag)) << flag;
    EXPECT_TRUE(Validated({std::string("--") + flag + "=0"}).ok()) << flag;
  }
  absl::StatusOr<Config> c =
      LoadConfig({}, {{"DOCSHARE_MAX_INFLIGHT_UPLOAD_BYTES", "7"}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->max_inflight_upload_bytes, 7u);
}

}  // namespace
}  // namespace docshare
