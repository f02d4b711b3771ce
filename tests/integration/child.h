#ifndef DOCSHARE_TESTS_INTEGRATION_CHILD_H_
#define DOCSHARE_TESTS_INTEGRATION_CHILD_H_

// A real process started by a test (docshare-server, docshare-cli), its
// stdout and stderr read together through one pipe.

#include <sys/types.h>

#include <regex>
#include <string>
#include <vector>

namespace docshare::testing {

struct Child {
  pid_t pid = -1;
  int out = -1;        // stdout and stderr together
  std::string buffer;  // read but not yet looked at
  std::string last_line;
};

// Runs `binary` with `args` (without argv[0]) and this process's environment
// plus `env` ("NAME=value" entries, which win).
Child Spawn(std::vector<std::string> args,
            const std::string& binary = DOCSHARE_SERVER_BINARY,
            const std::vector<std::string>& env = {});

// Reads output until `pattern` matches a line, the output ends, or 120 s pass
// without a match (a hung child fails the test instead of hanging it). Every
// line read is appended to `all`.
std::smatch ReadUntil(Child& c, const std::regex& pattern, std::string* all);

// Everything the child writes until it closes its output.
std::string ReadAll(Child& c);

// Waits for the child's exit: its exit code, or 128 + the signal.
int Wait(Child& c);

}  // namespace docshare::testing

#endif  // DOCSHARE_TESTS_INTEGRATION_CHILD_H_
