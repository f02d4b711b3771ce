#include "tests/support/h2_flood.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string_view>

#include "absl/time/clock.h"

namespace docshare::testing {

std::string H2Frame(uint8_t type, uint8_t flags, uint32_t stream,
                    std::string_view payload) {
  std::string f;
  const uint32_t n = static_cast<uint32_t>(payload.size());
  f += static_cast<char>(n >> 16);
  f += static_cast<char>(n >> 8);
  f += static_cast<char>(n);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  f += static_cast<char>((stream >> 24) & 0x7f);
  f += static_cast<char>(stream >> 16);
  f += static_cast<char>(stream >> 8);
  f += static_cast<char>(stream);
  f.append(payload);
  return f;
}

namespace {

// HPACK "literal header field without indexing, new name" (RFC 7541 6.2.2),
// name and value shorter than 127 bytes.
std::string Literal(std::string_view name, std::string_view value) {
  std::string h(1, '\0');
  h += static_cast<char>(name.size());
  h.append(name);
  h += static_cast<char>(value.size());
  h.append(value);
  return h;
}

std::string RequestHeaders() {
  return Literal(":method", "POST") + Literal(":scheme", "http") +
         Literal(":path", "/docshare.v1.DocumentService/CheckFile") +
         Literal(":authority", "localhost") +
         Literal("content-type", "application/grpc") + Literal("te", "trailers");
}

bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads (and drops) what the server sent; false once it closed.
bool Drain(int fd) {
  char buf[65536];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 0) != 1) return true;
    const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EINTR;
  }
}

}  // namespace

H2FloodResult FloodOnce(int port, H2Flood kind, absl::Duration duration,
                        uint64_t max_bytes) {
  H2FloodResult result;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return result;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return result;
  }
  std::string start = std::string(kH2Preface) + H2Frame(kH2Settings, 0, 0, "");
  const std::string request = RequestHeaders();
  if (kind == H2Flood::kContinuation) start += H2Frame(kH2Headers, 0, 1, request);
  SendAll(fd, start);
  result.bytes_sent = start.size();

  // 16 KiB of distinct literal headers per CONTINUATION frame.
  std::string block;
  for (int i = 0; block.size() + 140 < 16384; ++i) {
    block += Literal("x-flood-" + std::to_string(i), std::string(100, 'a' + i % 26));
  }
  const std::string continuation = H2Frame(kH2Continuation, 0, 1, block);
  uint32_t stream = 1;
  const absl::Time deadline = absl::Now() + duration;
  while (absl::Now() < deadline && result.bytes_sent < max_bytes) {
    std::string burst;
    for (int i = 0; i < 16; ++i) {
      if (kind == H2Flood::kContinuation) {
        burst += continuation;
      } else {
        burst += H2Frame(kH2Headers, kH2EndHeaders, stream, request);
        burst += H2Frame(kH2RstStream, 0, stream, std::string("\0\0\0\x8", 4));  // CANCEL
        stream += 2;
      }
    }
    if (!SendAll(fd, burst)) {
      (errno == EAGAIN || errno == EWOULDBLOCK ? result.stalled
                                               : result.closed_by_server) = true;
      break;
    }
    if (!Drain(fd)) {
      result.closed_by_server = true;
      break;
    }
    result.bytes_sent += burst.size();
    result.frames_sent += kind == H2Flood::kContinuation ? 16 : 32;
  }
  close(fd);
  return result;
}

uint64_t ResidentBytes(int pid) {
  std::ifstream status(pid == 0 ? std::string("/proc/self/status")
                                : "/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

}  // namespace docshare::testing
