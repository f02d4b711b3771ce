// The real docshare-server binary: start-up, config errors, /readyz, and
// SIGTERM draining to exit 0.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/child.h"

namespace docshare::testing {
namespace {

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

TEST(Process, StartsServesAndDrainsOnSigterm) {
  Child c =
      Spawn({"--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0",
             "--http-address=127.0.0.1:0",
             "--admin-token=process-test-admin-0123456789abcdef", "--log-level=info"});
  std::string output;
  std::smatch started = ReadUntil(
      c,
      std::regex(
          R"("event":"started","grpc_port":(\d+),"http_port":\d+,"metrics_port":(\d+))"),
      &output);
  ASSERT_FALSE(started.empty()) << output;
  const int metrics_port = std::stoi(started[2]);
  EXPECT_GT(std::stoi(started[1]), 0);
  EXPECT_NE(HttpGet(metrics_port, "/healthz").find("200"), std::string::npos);
  EXPECT_NE(HttpGet(metrics_port, "/readyz").find("200"), std::string::npos);
  std::string metrics = HttpGet(metrics_port, "/metrics");
  EXPECT_NE(metrics.find("docshare_shares_total"), std::string::npos);
  EXPECT_NE(metrics.find("process_resident_memory_bytes"), std::string::npos);
  EXPECT_EQ(output.find("process-test-admin"), std::string::npos)
      << "the admin token was logged";

  kill(c.pid, SIGTERM);
  std::smatch stopped = ReadUntil(c, std::regex(R"("event":"stopped")"), &output);
  EXPECT_FALSE(stopped.empty()) << output;
  EXPECT_EQ(Wait(c), 0) << output;
  EXPECT_NE(output.find("\"event\":\"draining\""), std::string::npos);
}

TEST(Process, AGeneratedAdminTokenIsPrintedOnce) {
  Child c = Spawn({"--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0",
                   "--http-address=127.0.0.1:0"});
  std::string output;
  std::smatch token = ReadUntil(
      c, std::regex(R"(admin token \(generated, shown once\): (\S+))"), &output);
  ASSERT_FALSE(token.empty()) << output;
  const std::string value = token[1];
  // Safe to paste after a flag, and long enough for the server's own check.
  EXPECT_TRUE(value.starts_with("adm_")) << value;
  EXPECT_GE(value.size(), 32u) << value;
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
        std::vector<std::string>{"--no-such-option=1"},
        // Malformed Redis URLs used to pass and abort the server (exit 134).
        std::vector<std::string>{"--backplane=redis://h:abc", "--token-secret=s"},
        std::vector<std::string>{"--backplane=redis://:6379", "--token-secret=s"},
        std::vector<std::string>{"--backplane=redis://h:99999", "--token-secret=s"},
        std::vector<std::string>{"--backplane=redis://h/x", "--token-secret=s"},
        std::vector<std::string>{"--grpc-address=127.0.0.1:99999"},
        std::vector<std::string>{"--metrics-address=127.0.0.1:65536"}}) {
    Child c = Spawn(args);
    std::string output;
    output = ReadAll(c);
    EXPECT_EQ(Wait(c), 1) << args[0] << ": " << output;
    const std::string option = args[0].substr(0, args[0].find('='));
    EXPECT_EQ(output.rfind("docshare-server: ", 0), 0u) << output;
    EXPECT_NE(output.find(option), std::string::npos) << output;
  }
}

// Another server holds *:P with SO_REUSEPORT (as gRPC servers do by default):
// ours must not share the port and take its connections, but fail, naming
// the address, with nothing but JSON on its output (no raw gRPC log line).
TEST(Process, APortInUseIsAnErrorNamingTheAddress) {
  const int holder = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(holder, 0);
  const int on = 1;
  ASSERT_EQ(setsockopt(holder, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(holder, 16), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(holder, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  Child c = Spawn({"--grpc-address=" + address, "--metrics-address=127.0.0.1:0",
                   "--admin-token=port-test-admin-0123456789abcdef0123"});
  std::string output;
  std::smatch verdict =
      ReadUntil(c, std::regex(R"re("event":"(start_failed|started)")re"), &output);
  ASSERT_FALSE(verdict.empty()) << output;
  if (verdict[1] == "started") kill(c.pid, SIGKILL);  // the bug: do not hang on it
  output += ReadAll(c);
  EXPECT_EQ(Wait(c), 1) << output;
  EXPECT_EQ(verdict[1], "start_failed") << output;
  EXPECT_NE(output.find("cannot listen on --grpc-address " + address), std::string::npos)
      << output;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.rfind("{\"", 0), 0u) << "not a JSON line: " << line;
  }
  close(holder);
}

TEST(Process, AnUnknownFlagWithoutAValueIsCalledUnknown) {
  Child c = Spawn({"--no-such-flag"});
  std::string output;
  output = ReadAll(c);
  EXPECT_EQ(Wait(c), 1);
  EXPECT_NE(output.find("unknown option --no-such-flag"), std::string::npos) << output;
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
  Child c = Spawn({"--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0",
                   "--http-address=127.0.0.1:0"},
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
                         "--http-address=127.0.0.1:0", "--render-isolation=thread"},
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
  output = ReadAll(c);
  EXPECT_EQ(Wait(c), 0);
  for (const char* option : {"--grpc-address", "--max-animation-pixels", "--backplane",
                             "--tls-client-ca", "DOCSHARE_WEBP_EFFORT"}) {
    EXPECT_NE(output.find(option), std::string::npos) << option;
  }
}

}  // namespace
}  // namespace docshare::testing
