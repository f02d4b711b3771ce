#include "service/transport/h2_guard.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <future>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/server.h"
#include "grpcpp/server_posix.h"
#include "service/common/cpus.h"
#include "service/http/listen.h"

namespace docshare {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Local = asio::local::stream_protocol;

namespace {

constexpr uint8_t kHeaders = 0x1;
constexpr uint8_t kRstStream = 0x3;
constexpr uint8_t kContinuation = 0x9;
constexpr uint8_t kEndHeaders = 0x4;
constexpr size_t kRelayBuffer = 64 * 1024;
constexpr int kMaxRelayThreads = 4;

}  // namespace

absl::Status H2FrameGuard::Feed(std::string_view bytes, absl::Time now) {
  if (!failed_.ok()) return failed_;
  while (!bytes.empty()) {
    if (preface_left_ > 0) {
      const size_t n = std::min(preface_left_, bytes.size());
      preface_left_ -= n;
      bytes.remove_prefix(n);
      continue;
    }
    if (payload_left_ > 0) {
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>(payload_left_, bytes.size()));
      payload_left_ -= n;
      bytes.remove_prefix(n);
      continue;
    }
    while (header_have_ < sizeof(header_) && !bytes.empty()) {
      header_[header_have_++] = static_cast<uint8_t>(bytes.front());
      bytes.remove_prefix(1);
    }
    if (header_have_ < sizeof(header_)) break;
    header_have_ = 0;
    const uint32_t length =
        (uint32_t{header_[0]} << 16) | (uint32_t{header_[1]} << 8) | uint32_t{header_[2]};
    payload_left_ = length;
    if (absl::Status s = Frame(header_[3], header_[4], length, now); !s.ok()) {
      failed_ = s;
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status H2FrameGuard::Frame(uint8_t type, uint8_t flags, uint32_t length,
                                 absl::Time now) {
  if (type == kHeaders || (type == kContinuation && in_header_block_)) {
    if (type == kHeaders) header_block_bytes_ = 0;
    header_block_bytes_ += length;
    in_header_block_ = (flags & kEndHeaders) == 0;
    if (limits_.max_header_block_bytes > 0 &&
        header_block_bytes_ > limits_.max_header_block_bytes) {
      refused_ = "header_block";
      return absl::ResourceExhaustedError(absl::StrCat("HTTP/2 header block over ",
                                                       limits_.max_header_block_bytes,
                                                       " bytes (a CONTINUATION flood)"));
    }
  } else if (type == kRstStream) {
    if (now - window_start_ >= absl::Seconds(1)) {
      window_start_ = now;
      resets_in_window_ = 0;
    }
    if (++resets_in_window_ > limits_.max_resets_per_second &&
        limits_.max_resets_per_second > 0) {
      refused_ = "resets";
      return absl::ResourceExhaustedError(
          absl::StrCat("more than ", limits_.max_resets_per_second,
                       " HTTP/2 stream resets in a second (rapid reset)"));
    }
  }
  return absl::OkStatus();
}

namespace {

// One client connection and its socket pair to gRPC. Lives while a relay
// handler holds it; everything runs on its relay thread (both sockets are on
// that thread's io_context).
class Relay : public std::enable_shared_from_this<Relay> {
 public:
  Relay(tcp::socket client, Local::socket inner, H2Limits limits,
        H2Guard::OnRefused& on_refused)
      : client_(std::move(client)),
        inner_(std::move(inner)),
        guard_(limits),
        on_refused_(on_refused) {}

  void Start() {
    ClientToServer();
    ServerToClient();
  }

  asio::any_io_executor executor() { return client_.get_executor(); }

  void Close() {
    boost::system::error_code ignored;
    client_.close(ignored);
    inner_.close(ignored);
  }

 private:
  void ClientToServer() {
    client_.async_read_some(
        asio::buffer(in_),
        [self = shared_from_this()](boost::system::error_code ec, size_t n) {
          if (ec) return self->Close();
          const absl::Status s =
              self->guard_.Feed(std::string_view(self->in_.data(), n), absl::Now());
          if (!s.ok()) {
            if (self->on_refused_) self->on_refused_(self->guard_.refused());
            return self->Close();
          }
          asio::async_write(self->inner_, asio::buffer(self->in_.data(), n),
                            [self](boost::system::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->ClientToServer();
                            });
        });
  }

  void ServerToClient() {
    inner_.async_read_some(
        asio::buffer(out_),
        [self = shared_from_this()](boost::system::error_code ec, size_t n) {
          if (ec) return self->Close();
          asio::async_write(self->client_, asio::buffer(self->out_.data(), n),
                            [self](boost::system::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->ServerToClient();
                            });
        });
  }

  tcp::socket client_;
  Local::socket inner_;
  H2FrameGuard guard_;
  H2Guard::OnRefused& on_refused_;
  std::array<char, kRelayBuffer> in_;
  std::array<char, kRelayBuffer> out_;
};

}  // namespace

class H2Guard::Impl {
  // A relay thread and its io_context.
  struct Loop {
    asio::io_context ioc{1};
    asio::executor_work_guard<asio::io_context::executor_type> work =
        asio::make_work_guard(ioc);
    std::thread thread;
  };

 public:
  Impl(grpc::Server& server, H2Limits limits, OnRefused on_refused)
      : server_(server), limits_(limits), on_refused_(std::move(on_refused)) {
    // The relays carry every byte gRPC sends (a fan-out is most of them): on
    // one thread, a server could never send more than one core can copy. On
    // 2 cores this changed no measured figure (README, "HTTP/2 floods").
    const int threads = std::clamp(UsableCpus(), 1, kMaxRelayThreads);
    for (int i = 0; i < threads; ++i) loops_.push_back(std::make_unique<Loop>());
  }

  absl::Status Listen(const std::string& address) {
    absl::StatusOr<std::unique_ptr<tcp::acceptor>> acceptor =
        ListenTcp(ioc_, address, "grpc-address");
    if (!acceptor.ok()) return acceptor.status();
    acceptor_ = *std::move(acceptor);
    port_ = acceptor_->local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
    for (auto& loop : loops_) loop->thread = std::thread([&loop] { loop->ioc.run(); });
    return absl::OkStatus();
  }

  void StopAccepting() {
    if (!thread_.joinable()) return;
    std::promise<void> done;
    asio::post(ioc_, [this, &done] {
      boost::system::error_code ignored;
      acceptor_->close(ignored);
      done.set_value();
    });
    done.get_future().wait();
  }

  void Stop() {
    if (!thread_.joinable()) return;
    asio::post(ioc_, [this] {
      boost::system::error_code ignored;
      acceptor_->close(ignored);
      for (const std::weak_ptr<Relay>& weak : relays_) {
        if (auto relay = weak.lock())
          asio::post(relay->executor(), [relay] { relay->Close(); });
      }
      relays_.clear();
    });
    work_.reset();
    thread_.join();  // every Close is posted by now
    for (auto& loop : loops_) {
      loop->work.reset();
      loop->thread.join();
    }
  }

  int port() const { return port_; }

 private:
  // Each connection is accepted onto the next relay thread's io_context.
  void Accept() {
    Loop& loop = *loops_[next_loop_];
    next_loop_ = (next_loop_ + 1) % loops_.size();
    acceptor_->async_accept(
        loop.ioc, [this, &loop](boost::system::error_code ec, tcp::socket client) {
          if (ec == asio::error::operation_aborted) return;  // stopping
          if (!ec) Adopt(loop, std::move(client));
          Accept();  // a failed accept (out of descriptors) does not stop the listener
        });
  }

  // On the acceptor's thread; the relay starts on its own.
  void Adopt(Loop& loop, tcp::socket client) {
    boost::system::error_code ignored;
    client.set_option(tcp::no_delay(true), ignored);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) != 0) {
      return;  // out of descriptors: the client's connection closes
    }
    Local::socket inner(loop.ioc);
    inner.assign(Local(), pair[0], ignored);
    // gRPC owns the other end from here, as if it had accepted it.
    grpc::AddInsecureChannelFromFd(&server_, pair[1]);
    auto relay = std::make_shared<Relay>(std::move(client), std::move(inner), limits_,
                                         on_refused_);
    asio::post(loop.ioc, [relay] { relay->Start(); });
    // Forget relays that are gone now and then, so the list stays the live ones.
    if (relays_.size() >= prune_at_) {
      std::erase_if(relays_, [](const std::weak_ptr<Relay>& r) { return r.expired(); });
      prune_at_ = std::max<size_t>(64, 2 * relays_.size());
    }
    relays_.push_back(relay);
  }

  grpc::Server& server_;
  const H2Limits limits_;
  OnRefused on_refused_;
  std::vector<std::unique_ptr<Loop>> loops_;  // the relay threads
  size_t next_loop_ = 0;                      // the acceptor's thread only
  asio::io_context ioc_{1};                   // the acceptor's
  asio::executor_work_guard<asio::io_context::executor_type> work_ =
      asio::make_work_guard(ioc_);
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::vector<std::weak_ptr<Relay>> relays_;  // the guard's thread only
  size_t prune_at_ = 64;
  int port_ = 0;
  std::thread thread_;
};

absl::StatusOr<std::unique_ptr<H2Guard>> H2Guard::Start(const std::string& address,
                                                        grpc::Server& server,
                                                        H2Limits limits,
                                                        OnRefused on_refused) {
  auto impl = std::make_unique<Impl>(server, limits, std::move(on_refused));
  if (absl::Status s = impl->Listen(address); !s.ok()) return s;
  return std::unique_ptr<H2Guard>(new H2Guard(std::move(impl)));
}

H2Guard::H2Guard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
H2Guard::~H2Guard() { Stop(); }
int H2Guard::port() const { return impl_->port(); }
void H2Guard::StopAccepting() { impl_->StopAccepting(); }
void H2Guard::Stop() { impl_->Stop(); }

}  // namespace docshare
