#ifndef DOCSHARE_TRANSPORT_H2_GUARD_H_
#define DOCSHARE_TRANSPORT_H2_GUARD_H_

// Plaintext gRPC's listener: every client connection is accepted here and
// relayed to the gRPC server over a socket pair (AddInsecureChannelFromFd),
// and the client's HTTP/2 frames are read on the way in. A connection that
// floods gRPC 1.51 with what it does not bound itself is closed before
// gRPC parses the flood (docs/http2-exposure.md):
//   - a header block (HEADERS, then CONTINUATION until END_HEADERS) larger
//     than `max_header_block_bytes`: the CONTINUATION flood;
//   - more than `max_resets_per_second` RST_STREAM frames from the client in
//     one second: rapid reset (CVE-2023-44487).
// Only the 9-byte frame headers are read; the payloads pass untouched.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class Server;
}

namespace docshare {

// 0 turns a limit off.
struct H2Limits {
  // gRPC refuses metadata over 16 KiB, and a header block is HPACK-
  // compressed, so a real one is smaller still.
  size_t max_header_block_bytes = 64 * 1024;
  int max_resets_per_second = 200;
};

// The frames of one client connection, fed in order. Pure: no I/O.
class H2FrameGuard {
 public:
  explicit H2FrameGuard(H2Limits limits) : limits_(limits) {}

  // OK, or why the connection must close (RESOURCE_EXHAUSTED naming the
  // limit); after an error every later call returns it again.
  absl::Status Feed(std::string_view bytes, absl::Time now);

  // Which limit closed the connection: "header_block" or "resets".
  std::string_view refused() const { return refused_; }

 private:
  absl::Status Frame(uint8_t type, uint8_t flags, uint32_t length, absl::Time now);

  const H2Limits limits_;
  size_t preface_left_ = 24;  // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
  uint8_t header_[9] = {};
  size_t header_have_ = 0;
  uint64_t payload_left_ = 0;
  bool in_header_block_ = false;
  uint64_t header_block_bytes_ = 0;
  absl::Time window_start_ = absl::InfinitePast();
  int resets_in_window_ = 0;
  absl::Status failed_;
  std::string_view refused_;
};

// The listener (one thread) and its relay threads (one per usable CPU, at
// most 4; each connection stays on one).
class H2Guard {
 public:
  // Called (on one of the guard's relay threads, maybe several at once) when a
  // connection is closed for a limit.
  using OnRefused = std::function<void(std::string_view limit)>;

  // Listens on `address` (host:port; port 0 picks one) for `server`, which
  // has no listening port of its own. UNAVAILABLE / INVALID_ARGUMENT as
  // ListenTcp, naming --grpc-address.
  static absl::StatusOr<std::unique_ptr<H2Guard>> Start(const std::string& address,
                                                        grpc::Server& server,
                                                        H2Limits limits,
                                                        OnRefused on_refused);
  ~H2Guard();  // Stop()

  int port() const;
  // Accepts no more connections (those open go on); returns when done.
  void StopAccepting();
  // Stops accepting and closes every relayed connection; joins.
  void Stop();

  class Impl;

 private:
  explicit H2Guard(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace docshare

#endif  // DOCSHARE_TRANSPORT_H2_GUARD_H_
