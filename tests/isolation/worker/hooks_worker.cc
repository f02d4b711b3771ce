// docshare-render-worker with test hooks, built for isolation_tests only:
// a request whose bytes start with
//   DOCSHARE-TEST-CRASH      aborts the worker mid-render,
//   DOCSHARE-TEST-SLEEP      never answers (until killed); also when in the
//                            first 64 bytes (a JPEG's COM segment),
//   DOCSHARE-TEST-LIE-MIME   answers a rejection whose MIME carries CR/LF,
//   DOCSHARE-TEST-LIE-CODE   answers UNAUTHENTICATED,
//   DOCSHARE-TEST-LIE-HTML   answers text/html "previews",
//   DOCSHARE-TEST-SOCKET     tries to open and connect a TCP socket,
//   DOCSHARE-TEST-EXEC       tries to exec /bin/true,
//   DOCSHARE-TEST-FORK       tries to fork,
//   DOCSHARE-TEST-KILL       tries to signal its parent (signal 0),
//   DOCSHARE-TEST-READ:path  tries to read the file at `path`,
//   DOCSHARE-TEST-ENV        lists its environment's names,
//   DOCSHARE-TEST-STDERR     writes a line to stderr and a GLib warning,
// and each attempt answers INTERNAL with what happened (errno text), like
// code an attacker got running in the decoder would find out; anything else
// renders with VipsRenderer, like the real worker.
#include <arpa/inet.h>
#include <fcntl.h>
#include <glib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "service/common/reject.h"
#include "service/pipeline/render_worker.h"

extern char** environ;

namespace docshare {
namespace {

// "ok" or the errno text of a call that returned -1.
std::string Outcome(int rc) { return rc == -1 ? std::strerror(errno) : "ok"; }

absl::Status Said(std::string what) { return absl::InternalError(std::move(what)); }

absl::Status TryRead(std::string path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Said("open: " + Outcome(-1));
  char buf[64];
  const ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  std::string text = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  for (char& c : text) {
    if (c < 0x20 || c > 0x7E) c = '.';
  }
  return Said("read: " + text);
}

absl::Status TrySocket() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Said("socket: " + Outcome(-1));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(6379);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  close(fd);
  return Said("socket: ok, connect: " + Outcome(rc));
}

absl::Status TryFork() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(pid, nullptr, 0);
  return Said("fork: " + Outcome(pid));
}

absl::Status ListEnvironment() {
  std::string names;
  for (char** e = environ; *e != nullptr; ++e) {
    names += std::string(*e).substr(0, std::string(*e).find('=')) + " ";
  }
  return Said("env: " + names.substr(0, 150));
}

class HookRenderer final : public Renderer {
 public:
  explicit HookRenderer(const RenderOptions& options) : vips_(options) {}
  absl::StatusOr<Renditions> Render(std::string_view bytes,
                                    const ImageHeader& header) override {
    if (bytes.starts_with("DOCSHARE-TEST-CRASH")) std::abort();
    // Also in a JPEG's first COM segment, so a real JPEG passes the server's
    // sniff and guard and then holds its worker (tests/integration fairness).
    if (bytes.starts_with("DOCSHARE-TEST-SLEEP") ||
        bytes.substr(0, 64).find("DOCSHARE-TEST-SLEEP") != std::string_view::npos) {
      for (;;) pause();
    }
    if (bytes.starts_with("DOCSHARE-TEST-LIE-MIME")) {
      return Reject(RejectReason::kCorruptImage, "image/png\r\nx-injected: 1", "broken");
    }
    if (bytes.starts_with("DOCSHARE-TEST-LIE-CODE")) {
      return absl::UnauthenticatedError("log in again");
    }
    if (bytes.starts_with("DOCSHARE-TEST-LIE-HTML")) {
      Renditions r;
      r.width = header.width;
      r.height = header.height;
      r.frame_count = header.frame_count;
      const auto html = std::make_shared<const std::string>("<script>alert(1)</script>");
      r.thumbnail = {Rendition::kThumbnail, "text/html", 1, 1, html};
      r.display = {Rendition::kDisplay, "text/html", 1, 1, html};
      return r;
    }
    if (bytes.starts_with("DOCSHARE-TEST-SOCKET")) return TrySocket();
    if (bytes.starts_with("DOCSHARE-TEST-EXEC")) {
      execl("/bin/true", "true", static_cast<char*>(nullptr));
      return Said("exec: " + Outcome(-1));
    }
    if (bytes.starts_with("DOCSHARE-TEST-FORK")) return TryFork();
    if (bytes.starts_with("DOCSHARE-TEST-KILL"))
      return Said("kill: " + Outcome(kill(getppid(), 0)));
    if (bytes.starts_with("DOCSHARE-TEST-READ:")) {
      return TryRead(std::string(bytes.substr(std::strlen("DOCSHARE-TEST-READ:"))));
    }
    if (bytes.starts_with("DOCSHARE-TEST-ENV")) return ListEnvironment();
    if (bytes.starts_with("DOCSHARE-TEST-STDERR")) {
      std::fprintf(stderr, "a line on the worker's stderr\n");
      g_warning("a GLib warning in the worker");
      return Said("wrote");
    }
    return vips_.Render(bytes, header);
  }

 private:
  VipsRenderer vips_;
};

}  // namespace
}  // namespace docshare

int main(int argc, char** argv) {
  return docshare::RenderWorkerMain(
      argc, argv, [](const docshare::RenderOptions& options) {
        return std::make_unique<docshare::HookRenderer>(options);
      });
}
