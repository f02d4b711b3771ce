// The real docshare-server binary: start-up, config errors, /readyz, and
// SIGTERM draining to exit 0.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern char** environ;

namespace docshare::testing {
namespace {

struct Child {
  pid_t pid = -1;
  int out = -1;  // stdout and stderr together
  std::string buffer;  // read but not yet looked at
  std::string last_line;
};

Child Spawn(std::vector<std::string> args,
            const std::string& binary = DOCSHARE_SERVER_BINARY) {
  args.insert(args.begin(), binary);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  Child child;
  EXPECT_EQ(posix_spawn(&child.pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  child.out = fds[0];
  return child;
}

// Reads output until `pattern` matches a line (or the child's output ends).
std::smatch ReadUntil(Child& c, const std::regex& pattern, std::string* all) {
  std::string& buffer = c.buffer;
  char chunk[4096];
  while (true) {
    size_t nl;
    while ((nl = buffer.find('\n')) != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      *all += line + "\n";
      std::smatch m;
      c.last_line = line;  // the match refers into it
      if (std::regex_search(c.last_line, m, pattern)) return m;
    }
    ssize_t n = read(c.out, chunk, sizeof chunk);
    if (n <= 0) return {};
    buffer.append(chunk, n);
  }
}

std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, n);
  close(fd);
  return resp;
}

int Wait(Child& c) {
  int status = 0;
  waitpid(c.pid, &status, 0);
  close(c.out);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(Process, StartsServesAndDrainsOnSigterm) {
  Child c = Spawn({"--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0",
                   "--admin-token=process-test-admin", "--log-level=info"});
  std::string output;
  std::smatch started = ReadUntil(
      c, std::regex(R"("event":"started","grpc_port":(\d+),"metrics_port":(\d+))"), &output);
  ASSERT_FALSE(started.empty()) << output;
  const int metrics_port = std::stoi(started[2]);
  EXPECT_GT(std::stoi(started[1]), 0);
  EXPECT_NE(HttpGet(metrics_port, "/healthz").find("200"), std::string::npos);
  EXPECT_NE(HttpGet(metrics_port, "/readyz").find("200"), std::string::npos);
  std::string metrics = HttpGet(metrics_port, "/metrics");
  EXPECT_NE(metrics.find("docshare_shares_total"), std::string::npos);
  EXPECT_NE(metrics.find("process_resident_memory_bytes"), std::string::npos);
  EXPECT_EQ(output.find("process-test-admin"), std::string::npos) << "the admin token was logged";

  kill(c.pid, SIGTERM);
  std::smatch stopped = ReadUntil(c, std::regex(R"("event":"stopped")"), &output);
  EXPECT_FALSE(stopped.empty()) << output;
  EXPECT_EQ(Wait(c), 0) << output;
  EXPECT_NE(output.find("\"event\":\"draining\""), std::string::npos);
}

TEST(Process, AGeneratedAdminTokenIsPrintedOnce) {
  Child c = Spawn({"--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0"});
  std::string output;
  std::smatch token = ReadUntil(c, std::regex(R"(admin token \(generated, shown once\): (\S+))"),
                                &output);
  ASSERT_FALSE(token.empty()) << output;
  const std::string value = token[1];
  ReadUntil(c, std::regex(R"("event":"started")"), &output);
  kill(c.pid, SIGTERM);
  ReadUntil(c, std::regex(R"("event":"stopped")"), &output);
  EXPECT_EQ(Wait(c), 0);
  size_t first = output.find(value);
  EXPECT_EQ(output.find(value, first + 1), std::string::npos) << "printed more than once";
}

TEST(Process, ABadConfigurationExitsOneNamingTheOption) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--max-frames=lots"},
        std::vector<std::string>{"--preview-format=bmp"},
        std::vector<std::string>{"--no-such-option=1"}}) {
    Child c = Spawn(args);
    std::string output;
    ReadUntil(c, std::regex("^$a"), &output);  // everything
    EXPECT_EQ(Wait(c), 1) << args[0];
    const std::string option = args[0].substr(0, args[0].find('='));
    EXPECT_NE(output.find(option), std::string::npos) << output;
  }
}

// A server copied without its docshare-render-worker would fail every share
// with INTERNAL: it refuses to start instead, and says what is missing.
TEST(Process, AMissingRenderWorkerStopsTheStart) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("lonely-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path lonely = dir / "docshare-server";
  std::filesystem::copy_file(DOCSHARE_SERVER_BINARY, lonely,
                             std::filesystem::copy_options::overwrite_existing);
  Child c = Spawn({"--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0"},
                  lonely.string());
  std::string output;
  std::smatch verdict =
      ReadUntil(c, std::regex(R"re("event":"(start_failed|started)")re"), &output);
  ASSERT_FALSE(verdict.empty()) << output;
  if (verdict[1] == "started") kill(c.pid, SIGKILL);  // a failure: do not hang on it
  EXPECT_EQ(verdict[1], "start_failed") << output;
  EXPECT_EQ(Wait(c), 1) << output;
  EXPECT_NE(output.find("docshare-render-worker"), std::string::npos) << output;
  // With in-process rendering it needs no worker and starts.
  Child threads = Spawn({"--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0",
                         "--render-isolation=thread"},
                        lonely.string());
  std::string started;
  EXPECT_FALSE(ReadUntil(threads, std::regex(R"("event":"started")"), &started).empty())
      << started;
  kill(threads.pid, SIGTERM);
  ReadUntil(threads, std::regex(R"("event":"stopped")"), &started);
  EXPECT_EQ(Wait(threads), 0);
  std::filesystem::remove_all(dir);
}

TEST(Process, HelpListsEveryOption) {
  Child c = Spawn({"--help"});
  std::string output;
  ReadUntil(c, std::regex("^$a"), &output);
  EXPECT_EQ(Wait(c), 0);
  for (const char* option : {"--grpc-address", "--max-animation-pixels", "--backplane",
                             "--tls-client-ca", "DOCSHARE_WEBP_EFFORT"}) {
    EXPECT_NE(output.find(option), std::string::npos) << option;
  }
}

}  // namespace
}  // namespace docshare::testing
