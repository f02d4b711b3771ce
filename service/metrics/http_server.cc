#include "service/metrics/http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <list>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace docshare {
namespace {

constexpr char kTextExposition[] = "text/plain; version=0.0.4; charset=utf-8";
// A request head (request line and headers) larger than this is refused: a
// probe or a scrape sends a few hundred bytes.
constexpr size_t kMaxRequestHead = 8192;

std::string Reply(int status, std::string_view reason, std::string_view content_type,
                  std::string_view body, bool head) {
  std::string out =
      absl::StrCat("HTTP/1.1 ", status, " ", std::string(reason),
                   "\r\nContent-Type: ", std::string(content_type),
                   "\r\nContent-Length: ", body.size(),
                   "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
  if (!head) out.append(body);
  return out;
}

// "host:port" split; the host keeps no brackets. False when there is no port.
bool SplitAddress(const std::string& address, std::string& host, std::string& port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) return false;
  host = address.substr(0, colon);
  port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return true;
}

int NonBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL, 0);
  return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// A listening socket for `host` ("::" means dual-stack); -1 and `error` set.
int Listen(const std::string& host, const std::string& port, bool& ipv6,
           std::string& error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const char* node = host.empty() ? nullptr : host.c_str();
  if (const int rc = getaddrinfo(node, port.c_str(), &hints, &found); rc != 0) {
    error = gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0 && ai->ai_family == AF_INET6 && host == "::") {
      // No IPv6 on this machine: the wildcard still means "every address".
      freeaddrinfo(found);
      return Listen("0.0.0.0", port, ipv6, error);
    }
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    const int on = 1, off = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (ai->ai_family == AF_INET6) {
      // "::" takes IPv4 too; any other IPv6 address only itself.
      const int* v6only = host == "::" ? &off : &on;
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only, sizeof(*v6only));
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0 ||
        NonBlocking(fd) != 0) {
      error = std::strerror(errno);
      close(fd);
      fd = -1;
      continue;
    }
    ipv6 = ai->ai_family == AF_INET6;
  }
  freeaddrinfo(found);
  return fd;
}

int BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t length = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) return 0;
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

}  // namespace

struct MetricsHttpServer::Connection {
  int fd = -1;
  absl::Time deadline;
  std::string in;
  std::string out;  // non-empty once the request head is complete
  size_t sent = 0;
};

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    Options options) {
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer(std::move(options)));
  const std::string& address = server->options_.address;
  std::string host, port, error;
  if (!SplitAddress(address, host, port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-address ", address, " is not host:port"));
  }
  server->listen_fd_ = Listen(host, port, server->ipv6_, error);
  if (server->listen_fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on --metrics-address ", address, ": ", error));
  }
  server->port_ = BoundPort(server->listen_fd_);
  if (pipe2(server->wake_fds_, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  server->thread_ = std::thread([s = server.get()] { s->Loop(); });
  return server;
}

MetricsHttpServer::~MetricsHttpServer() {
  if (thread_.joinable()) {
    const char stop = 's';
    while (write(wake_fds_[1], &stop, 1) < 0 && errno == EINTR) {
    }
    thread_.join();
  }
  for (int fd : {listen_fd_, wake_fds_[0], wake_fds_[1]}) {
    if (fd >= 0) close(fd);
  }
}

void MetricsHttpServer::Drop(std::string_view reason) const {
  if (options_.dropped) options_.dropped(reason);
}

void MetricsHttpServer::Loop() {
  // In accept order, so the front is the oldest (the first to evict).
  std::list<Connection> connections;
  std::vector<pollfd> fds;
  std::vector<std::list<Connection>::iterator> polled;
  while (true) {
    fds.assign({{wake_fds_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}});
    polled.clear();
    absl::Time next = absl::InfiniteFuture();
    for (auto it = connections.begin(); it != connections.end(); ++it) {
      fds.push_back({it->fd, static_cast<short>(it->out.empty() ? POLLIN : POLLOUT), 0});
      polled.push_back(it);
      next = std::min(next, it->deadline);
    }
    const absl::Duration wait = next - absl::Now();
    const int timeout_ms =
        next == absl::InfiniteFuture()
            ? -1
            : static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(wait) + 1));
    if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) break;
    if (fds[0].revents != 0) break;  // the destructor asks to stop
    const absl::Time now = absl::Now();
    for (size_t i = 0; i < polled.size(); ++i) {
      Connection& c = *polled[i];
      bool done = false;
      if ((fds[i + 2].revents & (POLLIN | POLLHUP | POLLERR)) && c.out.empty()) {
        char buf[4096];
        const ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          done = true;  // gone before its request was complete
        } else if (n > 0) {
          c.in.append(buf, static_cast<size_t>(n));
          const size_t end = c.in.find("\r\n\r\n");
          if (end != std::string::npos) {
            c.out = Respond(std::string_view(c.in).substr(0, end));
          } else if (c.in.size() > kMaxRequestHead) {
            Drop("too_large");
            c.out = Reply(431, "Request Header Fields Too Large", "text/plain",
                          "request too large\n", false);
          }
        }
      } else if (fds[i + 2].revents & (POLLOUT | POLLHUP | POLLERR)) {
        const ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) c.sent += static_cast<size_t>(n);
        done = c.sent == c.out.size() || (n < 0 && errno != EAGAIN && errno != EINTR);
      }
      if (!done && now >= c.deadline) {
        Drop("timeout");
        done = true;
      }
      if (done) {
        shutdown(c.fd, SHUT_WR);
        close(c.fd);
        connections.erase(polled[i]);
      }
    }
    if (fds[1].revents & POLLIN) {
      while (true) {
        const int fd =
            accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;  // EAGAIN: accepted all; anything else: retry next round
        if (static_cast<int>(connections.size()) >= options_.max_connections) {
          Drop("evicted");
          close(connections.front().fd);
          connections.pop_front();
        }
        Connection& c = connections.emplace_back();
        c.fd = fd;
        c.deadline = now + options_.request_timeout;
      }
    }
  }
  for (Connection& c : connections) close(c.fd);
}

std::string MetricsHttpServer::Respond(std::string_view head) const {
  // "GET /path?query HTTP/1.1": the method, then the path up to '?'.
  const std::string_view line = head.substr(0, head.find("\r\n"));
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.find(' ', sp1 == std::string_view::npos ? 0 : sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      line.substr(sp2 + 1).rfind("HTTP/", 0) != 0) {
    return Reply(400, "Bad Request", "text/plain", "bad request\n", false);
  }
  const std::string_view method = line.substr(0, sp1);
  std::string_view path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  path = path.substr(0, path.find('?'));
  const bool head_only = method == "HEAD";
  enum { kMetrics, kHealth, kReady } route;
  if (path == "/metrics") {
    route = kMetrics;
  } else if (path == "/healthz") {
    route = kHealth;
  } else if (path == "/readyz") {
    route = kReady;
  } else {
    return Reply(404, "Not Found", "text/plain", "not found\n", head_only);
  }
  // Only GET and HEAD: anything else is 405, so a probe misconfigured to POST
  // fails loudly instead of seeming healthy.
  if (method != "GET" && !head_only) {
    return Reply(405, "Method Not Allowed", "text/plain", "method not allowed\n", false);
  }
  switch (route) {
    case kHealth:
      return Reply(200, "OK", "text/plain", "ok\n", head_only);
    case kReady:
      if (options_.ready && options_.ready()) {
        return Reply(200, "OK", "text/plain", "ready\n", head_only);
      }
      return Reply(503, "Service Unavailable", "text/plain", "not ready\n", head_only);
    case kMetrics:
      break;
  }
  std::vector<prometheus::MetricFamily> families;
  for (const auto& collectable : options_.collectables) {
    std::vector<prometheus::MetricFamily> more = collectable->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  return Reply(200, "OK", kTextExposition,
               prometheus::TextSerializer().Serialize(families), head_only);
}

}  // namespace docshare
