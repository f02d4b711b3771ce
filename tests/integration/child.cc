#include "tests/integration/child.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "gtest/gtest.h"

extern char** environ;

namespace docshare::testing {

Child Spawn(std::vector<std::string> args, const std::string& binary,
            const std::vector<std::string>& env) {
  args.insert(args.begin(), binary);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> environment(env);
  for (char** e = environ; *e != nullptr; ++e) environment.emplace_back(*e);
  std::vector<char*> envp;
  for (std::string& e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);
  int fds[2];
  EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  Child child;
  EXPECT_EQ(posix_spawn(&child.pid, argv[0], &actions, nullptr, argv.data(), envp.data()),
            0);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  child.out = fds[0];
  return child;
}

std::smatch ReadUntil(Child& c, const std::regex& pattern, std::string* all) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
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
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd readable{.fd = c.out, .events = POLLIN, .revents = 0};
    if (left.count() <= 0 || poll(&readable, 1, static_cast<int>(left.count())) <= 0) {
      ADD_FAILURE() << "no line matched within 120 s; output so far:\n" << *all;
      return {};
    }
    ssize_t n = read(c.out, chunk, sizeof chunk);
    if (n <= 0) {
      *all += buffer;  // a last line without its newline
      buffer.clear();
      return {};
    }
    buffer.append(chunk, n);
  }
}

std::string ReadAll(Child& c) {
  std::string all;
  ReadUntil(c, std::regex("$^."), &all);  // matches no line
  return all;
}

int Wait(Child& c) {
  int status = 0;
  waitpid(c.pid, &status, 0);
  close(c.out);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace docshare::testing
