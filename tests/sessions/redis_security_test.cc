// rediss:// and Redis AUTH against a real redis-server started by the test:
// AUTH on both releases, TLS where hiredis has it (Debian 13), and the refusal
// with its reason where it has not (Debian 12).

#include "service/sessions/redis_security.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/common/build_features.h"
#include "service/common/clock.h"
#include "service/common/observer.h"
#include "service/sessions/make_session_store.h"
#include "service/sessions/redis_store.h"
#include "tests/support/redis_server.h"

namespace docshare {
namespace {

namespace fs = std::filesystem;
using testing::FreePort;
using ::testing::HasSubstr;
using testing::RedisServer;

// A scratch dir per test, removed after.
class ScratchDir {
 public:
  ScratchDir()
      : path_(fs::temp_directory_path() /
              ("docshare-redis-sec-" + std::to_string(getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() { fs::remove_all(path_); }
  std::string File(const std::string& name, const std::string& text = "") const {
    const std::string p = (path_ / name).string();
    if (!text.empty()) std::ofstream(p) << text;
    return p;
  }
  std::string Path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

TEST(ParseRedisBackplane, CredentialsFromTheUrl) {
  absl::StatusOr<RedisAddress> a = ParseRedisUrl("redis://alice:s3cr@t@cache:6380/1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->security.username, "alice");
  EXPECT_EQ(a->security.password, "s3cr@t");
  EXPECT_EQ(a->host, "cache");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 1);
  EXPECT_FALSE(a->security.tls);
  a = ParseRedisUrl("redis://:pw@cache");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->security.username, "");
  EXPECT_EQ(a->security.password, "pw");
  a = ParseRedisUrl("rediss://cache");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->security.tls);
}

TEST(ParseRedisBackplane, ErrorsNeverEchoThePassword) {
  absl::StatusOr<RedisAddress> a = ParseRedisUrl("redis://u:hunter2@cache:99999");
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(std::string(a.status().message()), ::testing::Not(HasSubstr("hunter2")));
}

TEST(ParseRedisBackplane, PasswordFile) {
  ScratchDir dir;
  absl::StatusOr<RedisAddress> a = ParseRedisBackplane(
      "redis://cache", RedisFiles{.password_file = dir.File("pw", "from-file\n")});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->security.password, "from-file");
  // Both a URL password and a file: which one wins would be a guess.
  absl::Status both =
      ParseRedisBackplane("redis://:x@cache", RedisFiles{.password_file = dir.File("pw")})
          .status();
  EXPECT_THAT(std::string(both.message()), HasSubstr("redis-password-file"));
  EXPECT_EQ(ParseRedisBackplane("redis://cache",
                                RedisFiles{.password_file = dir.Path("missing")})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseRedisBackplane, TlsFilesNeedRediss) {
  absl::Status s =
      ParseRedisBackplane("redis://cache", RedisFiles{.ca = "ca.pem"}).status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("rediss://"));
  s = ParseRedisBackplane("rediss://cache", RedisFiles{.cert = "c.pem"}).status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("redis-key"));
}

TEST(ParseRedisBackplane, RedissIsRefusedWithTheReasonWithoutTls) {
  absl::StatusOr<RedisAddress> a = ParseRedisBackplane("rediss://cache", {});
  if (kRedisTlsAvailable) {
    EXPECT_TRUE(a.ok()) << a.status();
  } else {
    ASSERT_FALSE(a.ok());
    EXPECT_THAT(std::string(a.status().message()), HasSubstr("hiredis"));
  }
}

// --- A real redis-server. -------------------------------------------------------

class RedisAuthTest : public ::testing::Test {
 protected:
  std::unique_ptr<RedisStore> Connect(int port, RedisSecurity security) {
    RedisAddress address{"127.0.0.1", port, 0, std::move(security)};
    return std::make_unique<RedisStore>(address, clock_, SessionCaps{}, observer_);
  }
  // Healthy, and a session round-trips through Redis.
  void ExpectWorks(RedisStore& bp) {
    ASSERT_TRUE(bp.WaitHealthy(absl::Seconds(20)));
    absl::StatusOr<SessionInfo> info = bp.Start(SessionSettings{"s1", absl::Minutes(5)});
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_TRUE(bp.Get("s1").ok());
  }
  // Never healthy, and no call gets through (UNAVAILABLE when AUTH or TLS
  // fails; a connection without AUTH gets NOAUTH replies).
  void ExpectRefused(RedisStore& bp) {
    EXPECT_FALSE(bp.WaitHealthy(absl::Seconds(2)));
    EXPECT_FALSE(bp.Start(SessionSettings{"s1", absl::Minutes(5)}).ok());
  }
  FakeClock clock_;
  NullObserver observer_;
};

TEST_F(RedisAuthTest, PasswordFromTheFileIsRequiredAndChecked) {
  RedisServer redis({"--requirepass", "correct horse"});
  ASSERT_TRUE(redis.ok());
  ScratchDir dir;
  absl::StatusOr<RedisAddress> address =
      ParseRedisBackplane(absl::StrCat("redis://127.0.0.1:", redis.port()),
                          RedisFiles{.password_file = dir.File("pw", "correct horse\n")});
  ASSERT_TRUE(address.ok()) << address.status();
  auto good = Connect(redis.port(), address->security);
  ExpectWorks(*good);
  auto none = Connect(redis.port(), {});
  ExpectRefused(*none);
  auto wrong = Connect(redis.port(), RedisSecurity{.password = "battery staple"});
  ExpectRefused(*wrong);
}

TEST_F(RedisAuthTest, AclUserAndPasswordFromTheUrl) {
  // The default user off: nothing works without AUTH as docshare.
  RedisServer redis({"--user", "docshare", "on", ">pw1", "~*", "&*", "+@all", "--user",
                     "default", "off"});
  ASSERT_TRUE(redis.ok());
  absl::StatusOr<RedisAddress> address =
      ParseRedisUrl(absl::StrCat("redis://docshare:pw1@127.0.0.1:", redis.port()));
  ASSERT_TRUE(address.ok()) << address.status();
  auto good = Connect(redis.port(), address->security);
  ExpectWorks(*good);
  auto other =
      Connect(redis.port(), RedisSecurity{.username = "nobody", .password = "pw1"});
  ExpectRefused(*other);
}

// --- TLS: a CA, a server and a client certificate made by openssl(1). ------------

class RedisTlsTest : public RedisAuthTest {
 protected:
  void SetUp() override {
    if (!kRedisTlsAvailable) {
      GTEST_SKIP()
          << "this build's hiredis has no TLS (Debian 12); "
             "ParseRedisBackplane.RedissIsRefusedWithTheReasonWithoutTls covers it";
    }
    const std::string d = dir_.Path("");
    const std::string script =
        "cd '" + d +
        "' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca"
        " -keyout ca.key -out ca.pem"
        " && openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key"
        " -out server.csr"
        " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
        " -days 2 -out server.pem"
        " && openssl req -newkey rsa:2048 -nodes -subj /CN=docshare -keyout client.key"
        " -out client.csr"
        " && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
        " -days 2 -out client.pem"
        " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca"
        " -keyout other.key -out other.pem 2>/dev/null >/dev/null";
    ASSERT_EQ(std::system((script + " 2>/dev/null").c_str()), 0) << "openssl failed";
  }
  std::unique_ptr<RedisServer> StartTlsRedis(int tls_port, bool client_certs) {
    return std::make_unique<RedisServer>(std::vector<std::string>{
        "--tls-port", std::to_string(tls_port), "--tls-cert-file",
        dir_.Path("server.pem"), "--tls-key-file", dir_.Path("server.key"),
        "--tls-ca-cert-file", dir_.Path("ca.pem"), "--tls-auth-clients",
        client_certs ? "yes" : "no"});
  }
  ScratchDir dir_;
};

TEST_F(RedisTlsTest, RedissWithTheCaWorksAndAnotherCaIsRefused) {
  const int tls_port = FreePort();
  std::unique_ptr<RedisServer> redis = StartTlsRedis(tls_port, false);
  ASSERT_TRUE(redis->ok());
  absl::StatusOr<RedisAddress> address =
      ParseRedisBackplane(absl::StrCat("rediss://127.0.0.1:", tls_port),
                          RedisFiles{.ca = dir_.Path("ca.pem")});
  ASSERT_TRUE(address.ok()) << address.status();
  auto good = Connect(tls_port, address->security);
  ExpectWorks(*good);
  auto other_ca =
      Connect(tls_port, RedisSecurity{.tls = true, .ca_file = dir_.Path("other.pem")});
  ExpectRefused(*other_ca);
  // Plain redis:// to the TLS port gets no answer it understands.
  auto plain = Connect(tls_port, {});
  ExpectRefused(*plain);
}

TEST_F(RedisTlsTest, ClientCertificateWhenTheServerRequiresOne) {
  const int tls_port = FreePort();
  std::unique_ptr<RedisServer> redis = StartTlsRedis(tls_port, true);
  ASSERT_TRUE(redis->ok());
  absl::StatusOr<RedisAddress> address =
      ParseRedisBackplane(absl::StrCat("rediss://127.0.0.1:", tls_port),
                          RedisFiles{.ca = dir_.Path("ca.pem"),
                                     .cert = dir_.Path("client.pem"),
                                     .key = dir_.Path("client.key")});
  ASSERT_TRUE(address.ok()) << address.status();
  auto with_cert = Connect(tls_port, address->security);
  ExpectWorks(*with_cert);
  auto without =
      Connect(tls_port, RedisSecurity{.tls = true, .ca_file = dir_.Path("ca.pem")});
  ExpectRefused(*without);
}

}  // namespace
}  // namespace docshare
