// The real docshare-cli binary against a real server (App on loopback).
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/integration/child.h"
#include "tests/integration/harness.h"
#include "tests/support/files.h"

namespace docshare::testing {
namespace {

struct CliRun {
  int code = -1;
  std::string output;  // stdout and stderr
};

CliRun Cli(std::vector<std::string> args) {
  Child c = Spawn(std::move(args), DOCSHARE_CLI_BINARY, {"DOCSHARE_TOKEN="});
  CliRun run;
  run.output = ReadAll(c);
  run.code = Wait(c);
  return run;
}

// Bad command lines are refused before anything is sent (exit 2), saying why.
TEST(Cli, BadCommandLinesAreClearErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {{"start", "s", "--ttl", "abc"}, "--ttl: \"abc\" is not a number of seconds"},
           {{"start", "s", "--ttl=-1"}, "--ttl: \"-1\" is not a number of seconds"},
           {{"start", "s", "--ttl=99999999999"},
            "--ttl: \"99999999999\" is not a number"},
           {{"watch", "s", "--after", "x1"}, "--after: \"x1\" is not a sequence number"},
           {{"check", "f", "--no-such-flag"}, "unknown option --no-such-flag"},
           {{"start", "s", "--ttl"}, "--ttl needs a value"},
           {{"start", "s", "--consumer-may-share=yes"}, "--consumer-may-share takes no"},
           {{"frobnicate"}, "unknown command \"frobnicate\""},
           {{"ack", "s", "d", "seen"}, "ack: \"seen\" is not displayed or closed"},
           {{"withdraw", "s"}, "withdraw needs SESSION_ID DOCUMENT_ID"},
           {{"session", "s", "--urls", "--inline"}, "--urls and --inline exclude"},
           {{}, "no command"},
       }) {
    CliRun run = Cli(c.args);
    EXPECT_EQ(run.code, 2) << run.output;
    EXPECT_NE(run.output.find("docshare-cli: " + c.says), std::string::npos)
        << run.output;
    EXPECT_NE(run.output.find("usage: docshare-cli"), std::string::npos) << run.output;
  }
  CliRun help = Cli({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.output.find("usage: docshare-cli"), std::string::npos) << help.output;
}

class CliServerTest : public ServerTest {
 protected:
  std::string Address() const { return absl::StrCat("127.0.0.1:", app_->grpc_port()); }
};

// Errors from the server are printed with the status code's name.
TEST_F(CliServerTest, PrintsStatusNamesAndAWrongTokenIsInvalid) {
  CliRun wrong = Cli(
      {"--address", Address(), "--token", "not-the-admin-token", "start", "cli-session"});
  EXPECT_EQ(wrong.code, 1) << wrong.output;
  EXPECT_NE(wrong.output.find("error: UNAUTHENTICATED invalid token"), std::string::npos)
      << wrong.output;

  CliRun bad_id =
      Cli({"--address", Address(), "--token", kAdminToken, "start", "bad id!"});
  EXPECT_EQ(bad_id.code, 1) << bad_id.output;
  EXPECT_NE(bad_id.output.find("error: INVALID_ARGUMENT "), std::string::npos)
      << bad_id.output;

  CliRun unknown = Cli({"--address", Address(), "--token", kAdminToken, "end", "nobody"});
  EXPECT_EQ(unknown.code, 1) << unknown.output;
  EXPECT_NE(unknown.output.find("error: NOT_FOUND "), std::string::npos)
      << unknown.output;
}

TEST_F(CliServerTest, StartsASessionWithATypedTtl) {
  CliRun run = Cli({"--address", Address(), "--token", kAdminToken, "start", "cli-ttl",
                    "--ttl", "90", "--consumer-may-share"});
  ASSERT_EQ(run.code, 0) << run.output;
  std::smatch expires;
  ASSERT_TRUE(std::regex_search(run.output, expires, std::regex(R"(EXPIRES_AT=(\d+))")))
      << run.output;
  EXPECT_EQ(std::stoll(expires[1]), absl::ToUnixSeconds(clock_.Now()) + 90);
  EXPECT_NE(run.output.find("CONSUMER_TOKEN=v1."), std::string::npos) << run.output;
}

// session, ack, withdraw and watch --urls against a live session.
TEST_F(CliServerTest, SessionAckWithdrawAndWatchUrls) {
  const v1::StartSessionResponse s = StartSession("cli-life");
  ShareResult shared =
      Share(s.agent_token(), "cli-life", ReadFile(CorpusPath("sharp/320x240.jpg")));
  ASSERT_TRUE(shared.status.ok()) << shared.status.error_message();
  const std::string doc = shared.response.document().document_id();
  Child watch = Spawn({"--address", Address(), "--token", s.consumer_token(), "watch",
                       "cli-life", "--urls"},
                      DOCSHARE_CLI_BINARY, {"DOCSHARE_TOKEN="});
  std::string watched;
  ReadUntil(watch, std::regex("1 document_shared " + doc + " photo.jpg /v1/previews/"),
            &watched);

  CliRun ack = Cli({"--address", Address(), "--token", s.consumer_token(), "ack",
                    "cli-life", doc, "displayed"});
  EXPECT_EQ(ack.code, 0) << ack.output;
  CliRun session =
      Cli({"--address", Address(), "--token", s.agent_token(), "session", "cli-life"});
  EXPECT_EQ(session.code, 0) << session.output;
  EXPECT_NE(session.output.find("session cli-life SESSION_STATE_ACTIVE"),
            std::string::npos)
      << session.output;
  EXPECT_NE(session.output.find("last_sequence=2 watchers=1 documents=1"),
            std::string::npos)
      << session.output;
  EXPECT_NE(
      session.output.find(doc + " photo.jpg agent thumbnail=/v1/previews/cli-life/"),
      std::string::npos)
      << session.output;
  CliRun denied = Cli({"--address", Address(), "--token", s.consumer_token(), "withdraw",
                       "cli-life", doc});
  EXPECT_EQ(denied.code, 1) << denied.output;
  EXPECT_NE(denied.output.find("error: PERMISSION_DENIED"), std::string::npos)
      << denied.output;
  CliRun withdraw = Cli(
      {"--address", Address(), "--token", s.agent_token(), "withdraw", "cli-life", doc});
  EXPECT_EQ(withdraw.code, 0) << withdraw.output;
  ASSERT_TRUE(EndSession(kAdminToken, "cli-life").ok());
  watched += ReadAll(watch);
  EXPECT_EQ(Wait(watch), 0) << watched;
  EXPECT_NE(watched.find("2 document_acknowledged " + doc + " consumer displayed"),
            std::string::npos)
      << watched;
  EXPECT_NE(watched.find("3 document_withdrawn " + doc + " agent"), std::string::npos)
      << watched;
  EXPECT_NE(watched.find("4 session_ended ended"), std::string::npos) << watched;
}

}  // namespace
}  // namespace docshare::testing
