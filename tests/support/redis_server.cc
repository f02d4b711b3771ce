#include "tests/support/redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

namespace docshare::testing {

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

RedisServer::RedisServer() : port_(FreePort()) { Start(); }

RedisServer::RedisServer(std::vector<std::string> extra_args)
    : port_(FreePort()), extra_args_(std::move(extra_args)) {
  Start();
}

RedisServer::~RedisServer() { Stop(); }

bool RedisServer::Ping() const {
  // A raw PING over a socket: no client library needed.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const char ping[] = "PING\r\n";
    if (write(fd, ping, sizeof(ping) - 1) == sizeof(ping) - 1) {
      pollfd p{fd, POLLIN, 0};
      char buf[16] = {};
      if (poll(&p, 1, 1000) == 1 && read(fd, buf, sizeof(buf) - 1) > 0) {
        ok = std::strncmp(buf, "+PONG", 5) == 0 || std::strncmp(buf, "-NOAUTH", 7) == 0;
      }
    }
  }
  close(fd);
  return ok;
}

bool RedisServer::Start() {
  if (pid_ > 0 || port_ == 0) return pid_ > 0;
  const std::string port = std::to_string(port_);
  // argv is built before fork: the child of a threaded process must not allocate.
  std::vector<std::string> args = {"redis-server", "--port",     port,     "--bind",
                                   "127.0.0.1",    "--save",     "",       "--appendonly",
                                   "no",           "--loglevel", "warning"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // A test that crashes must not leave its redis-server behind: it would
    // hold the test's output pipe open, and ctest wait for it until the
    // test's timeout.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    execvp("redis-server", argv.data());
    _exit(127);
  }
  if (pid < 0) return false;
  pid_ = pid;
  // Bounded: up to 10 s in 10 ms steps, returning as soon as PING answers.
  for (int i = 0; i < 1000; ++i) {
    if (Ping()) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) break;  // it died
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return false;
}

void StopProcess(pid_t& pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 500; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) {
      pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  pid = -1;
}

void RedisServer::Stop() {
  Resume();  // a paused server would not hear SIGTERM
  StopProcess(pid_);
}

void RedisServer::Pause() {
  if (pid_ > 0) kill(pid_, SIGSTOP);
}

void RedisServer::Resume() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

std::string RedisServer::Cli(const std::string& args) const {
  const std::string command =
      "redis-cli -h 127.0.0.1 -p " + std::to_string(port_) + " " + args + " 2>&1";
  std::string out;
  if (FILE* f = popen(command.c_str(), "r")) {
    char buf[512];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
    pclose(f);
  }
  return out;
}

}  // namespace docshare::testing
