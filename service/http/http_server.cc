#include "service/http/http_server.h"

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <type_traits>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/http/exchange.h"
#include "service/http/listen.h"

namespace docshare {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kHeaderLimit = 16 * 1024;
constexpr size_t kBodyChunk = 4096;
// Uploads are read in pieces of this size (the gRPC clients' chunk size).
constexpr size_t kUploadChunk = 64 * 1024;
// After answering a request whose body was not read (a refused upload), the
// rest is read and dropped up to this much before the socket closes, so the
// client sees the answer rather than a reset.
constexpr size_t kLingerBytes = 256 * 1024;
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::string_view kHeartbeat = ": heartbeat\n\n";
// How long stopping the server waits for routes to release their exchanges.
constexpr absl::Duration kExchangeReleaseBound = absl::Seconds(10);

absl::StatusOr<std::string> ReadPem(const std::string& path, std::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", std::string(flag), ": cannot read ", path));
  }
  if (text.str().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", std::string(flag), ": cannot read ", path, " (missing or empty)"));
  }
  return text.str();
}

HttpRequest ToRequest(const http::request_header<>& header) {
  HttpRequest request;
  request.method = std::string(header.method_string());
  const std::string_view target(header.target().data(), header.target().size());
  const size_t q = target.find('?');
  request.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
  for (const auto& field : header) {
    request.headers.emplace_back(absl::AsciiStrToLower(std::string(field.name_string())),
                                 std::string(field.value()));
  }
  return request;
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, HttpApi& api)
      : options_(std::move(options)), api_(api) {}

  ~Impl() { Stop(); }

  absl::StatusOr<int> Listen() {
    if (!options_.tls_cert_file.empty()) {
      absl::StatusOr<std::string> cert = ReadPem(options_.tls_cert_file, "tls-cert");
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadPem(options_.tls_key_file, "tls-key");
      if (!key.ok()) return key.status();
      ssl_.emplace(asio::ssl::context::tls_server);
      ssl_->set_options(asio::ssl::context::default_workarounds |
                        asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                        asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
      beast::error_code ec;
      ssl_->use_certificate_chain(asio::buffer(*cert), ec);
      if (ec)
        return absl::InvalidArgumentError(absl::StrCat("--tls-cert: ", ec.message()));
      ssl_->use_private_key(asio::buffer(*key), asio::ssl::context::pem, ec);
      if (ec)
        return absl::InvalidArgumentError(absl::StrCat("--tls-key: ", ec.message()));
    }
    absl::StatusOr<std::unique_ptr<tcp::acceptor>> acceptor =
        ListenTcp(ioc_, options_.address, "http-address");
    if (!acceptor.ok()) return acceptor.status();
    const int port = (*acceptor)->local_endpoint().port();
    acceptor_ = *std::move(acceptor);
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
    return port;
  }

  void Drain(absl::Time deadline) {
    {
      absl::MutexLock lock(&mu_);
      draining_ = true;
    }
    asio::post(ioc_, [this] {
      beast::error_code ignored;
      if (acceptor_) acceptor_->close(ignored);
      // Copied: ending a stream removes it from the set.
      std::vector<StreamControl*> open(streams_.begin(), streams_.end());
      for (StreamControl* stream : open) stream->EndForDrain();
    });
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(
                              +[](Impl* impl) ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl->mu_) {
                                return impl->in_flight_ == 0 && impl->streaming_ == 0;
                              },
                              this),
                          deadline);
  }

  void Stop() {
    // A route may still hold an exchange (a store thread finishing a
    // store call): its release posts to this loop, so the loop runs until
    // every exchange is gone (bounded; past the bound it is counted).
    {
      absl::MutexLock lock(&mu_);
      const bool released =
          mu_.AwaitWithTimeout(absl::Condition(
                                   +[](Impl* impl) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                                        impl->mu_) { return impl->exchanges_ == 0; },
                                   this),
                               kExchangeReleaseBound);
      if (!released) api_.observer().Anomaly("exchange_outlived_server");
    }
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

  // Exchanges handed to routes and not yet released (Stop waits for them).
  void ExchangeMade() {
    absl::MutexLock lock(&mu_);
    ++exchanges_;
  }
  void ExchangeReleased() {
    absl::MutexLock lock(&mu_);  // the last use of the server by an exchange
    --exchanges_;
  }

  int in_flight() const {
    absl::MutexLock lock(&mu_);
    return in_flight_;
  }

  int streams() const {
    absl::MutexLock lock(&mu_);
    return streaming_;
  }

  // A connection whose response is a stream; the loop ends them all on drain.
  class StreamControl {
   public:
    virtual ~StreamControl() = default;
    virtual void EndForDrain() = 0;
  };
  // Both on the loop.
  void AddStream(StreamControl* stream) {
    streams_.insert(stream);
    absl::MutexLock lock(&mu_);
    ++streaming_;
  }
  void RemoveStream(StreamControl* stream) {
    if (streams_.erase(stream) == 0) return;
    absl::MutexLock lock(&mu_);
    --streaming_;
  }

  // Counts a request in flight, unless the server drains: one step with
  // Drain's, so a request counted is never refused and Drain waits for it.
  bool BeginRequest() {
    absl::MutexLock lock(&mu_);
    if (draining_) return false;
    ++in_flight_;
    return true;
  }

  // Counts a request from its headers to its answer's last byte.
  class InFlight {
   public:
    // Takes over a count BeginRequest made.
    explicit InFlight(Impl& server) : server_(server) {}
    ~InFlight() {
      absl::MutexLock lock(&server_.mu_);
      --server_.in_flight_;
    }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

   private:
    Impl& server_;
  };

  template <bool kTls>
  class Connection;

  HttpApi& api() { return api_; }
  bool draining() const { return draining_; }
  const HttpServerOptions& options() const { return options_; }
  asio::ssl::context& ssl() { return *ssl_; }

 private:
  void Accept();

  const HttpServerOptions options_;
  HttpApi& api_;
  // Declared before ioc_: connections destroyed with the io_context use them.
  mutable absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int streaming_ ABSL_GUARDED_BY(mu_) = 0;
  int exchanges_ ABSL_GUARDED_BY(mu_) = 0;
  // Touched on the loop thread only.
  absl::flat_hash_set<StreamControl*> streams_;
  std::atomic<bool> draining_ = false;
  std::optional<asio::ssl::context> ssl_;
  asio::io_context ioc_{1};
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::thread thread_;
};

template <bool kTls>
class HttpServer::Impl::Connection
    : public std::enable_shared_from_this<HttpServer::Impl::Connection<kTls>>,
      public HttpServer::Impl::StreamControl {
 public:
  using Stream =
      std::conditional_t<kTls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

  Connection(Impl& server, tcp::socket socket) requires(!kTls)
      : server_(server), stream_(std::move(socket)) {
    server_.api().observer().ConnectionsActive(1);
  }
  Connection(Impl& server, tcp::socket socket) requires(kTls)
      : server_(server), stream_(std::move(socket), server.ssl()) {
    server_.api().observer().ConnectionsActive(1);
  }
  ~Connection() {
    if (source_) {
      server_.RemoveStream(this);
      source_->Closed();
    }
    server_.api().observer().ConnectionsActive(-1);
  }

  void EndForDrain() override { EndStream(); }

  void Start() {
    if constexpr (kTls) {
      Lowest().expires_after(Timeout());
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (!ec) self->ReadHeader();
                              });
    } else {
      ReadHeader();
    }
  }

 private:
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }
  std::chrono::steady_clock::duration Timeout() const {
    return absl::ToChronoNanoseconds(server_.options().idle_timeout);
  }

  void ReadHeader() {
    parser_.emplace();
    upload_chunk_
        .clear();  // a new request: its upload (if any) starts again with the head
    parser_->header_limit(kHeaderLimit);
    // Bodies are read only as far as a route asks. (Not boost::none: Beast 1.74
    // compares the length with the empty optional and refuses every body.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    Lowest().expires_after(Timeout());
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](
                                beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    // The client closed, went silent or reset: nothing to answer. A request
    // Beast could not parse gets a 400.
    const bool malformed =
        ec && ec != http::error::end_of_stream &&
        &ec.category() == &http::make_error_code(http::error::bad_target).category();
    if (ec && !malformed) return Close();
    started_ = absl::Now();
    const bool counted = server_.BeginRequest();
    if (counted) in_flight_.emplace(server_);
    if (ec) {  // a malformed request: answered, then the connection closes
      request_ = HttpRequest{};
      route_ = "unknown";
      broken_ = true;
      return Respond(ErrorResponse(absl::InvalidArgumentError(
          absl::StrCat("malformed HTTP request: ", ec.message()))));
    }
    request_ = ToRequest(parser_->get());
    HttpApi::Admission admission = server_.api().Admit(request_);
    route_ = admission.route;
    if (!counted) {
      return Respond(ErrorResponse(absl::UnavailableError("the server is draining")));
    }
    if (admission.answer) return Respond(std::move(*admission.answer));
    body_limit_ = admission.body_limit;
    body_.clear();
    if (parser_->get()[http::field::expect] == "100-continue") {
      continue_.emplace(http::status::continue_, 11);
      return http::async_write(
          stream_, *continue_,
          [self = this->shared_from_this()](beast::error_code ec, size_t) {
            if (ec) return self->Close();
            self->ReadBody();
          });
    }
    ReadBody();
  }

  // Handed to a route: answers (or streams) on the loop, from any thread.
  class Exchange final : public HttpExchange {
   public:
    explicit Exchange(std::shared_ptr<Connection> connection)
        : connection_(std::move(connection)) {
      connection_->server_.ExchangeMade();
    }
    ~Exchange() override {
      Impl& server = connection_->server_;
      if (!used_) {  // a route's bug: counted, and the client still gets an answer
        server.api().observer().Anomaly("route_gave_no_answer");
        Answer(ErrorResponse(absl::InternalError("the route gave no answer")));
      }
      // A route lets go of its exchange on any thread (a store thread);
      // the connection's last reference is dropped on the loop, where its
      // destructor may touch the server's stream set.
      auto loop = connection_->stream_.get_executor();
      asio::post(loop, [c = std::move(connection_)] {});
      server.ExchangeReleased();  // after this the server may be gone
    }
    void Answer(HttpResponse response) override {
      if (used_.exchange(true)) return;
      asio::post(connection_->stream_.get_executor(),
                 [c = connection_, r = std::move(response)]() mutable {
                   c->Respond(std::move(r));
                 });
    }
    void Stream(HttpResponse head, std::shared_ptr<HttpStream> stream) override {
      if (used_.exchange(true)) return;
      asio::post(connection_->stream_.get_executor(),
                 [c = connection_, h = std::move(head), s = std::move(stream)]() mutable {
                   c->BeginStream(std::move(h), std::move(s));
                 });
    }

    void ReadBody(PieceHandler on_piece) override {
      asio::post(connection_->stream_.get_executor(),
                 [c = connection_, h = std::move(on_piece)]() mutable {
                   c->on_piece_ = std::move(h);
                   c->ReadPieces();
                 });
    }

   private:
    std::shared_ptr<Connection> connection_;
    std::atomic<bool> used_ = false;
  };

  // The body, streamed to the route (an upload) piece by piece.
  void ReadPieces() {
    if (parser_->is_done()) {
      on_piece_("", true);
      on_piece_ = nullptr;
      return;
    }
    // The first piece is the head (4 KiB): an unsupported type is refused
    // before more is read.
    // The whole upload has --upload-timeout, as a gRPC share has: a client
    // trickling a byte at a time is cut off, not only one that stalls.
    if (upload_chunk_.empty())
      upload_deadline_ = std::chrono::steady_clock::now() + Timeout();
    upload_chunk_.resize(upload_chunk_.empty() ? kBodyChunk : kUploadChunk);
    auto& body = parser_->get().body();
    body.data = upload_chunk_.data();
    body.size = upload_chunk_.size();
    body.more = true;
    Lowest().expires_at(upload_deadline_);
    // Some, not all: a piece goes to the route as soon as it arrives.
    http::async_read_some(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) {
          if (ec == http::error::need_buffer) ec = {};
          if (ec) {  // the client went away: the route hears nothing more
            self->on_piece_ = nullptr;
            return self->Close();
          }
          const size_t got =
              self->upload_chunk_.size() - self->parser_->get().body().size;
          const bool last = self->parser_->is_done();
          if (got == 0 && !last) return self->ReadPieces();
          const bool more =
              self->on_piece_(std::string_view(self->upload_chunk_.data(), got), last);
          if (last || !more) {
            self->on_piece_ = nullptr;
            return;
          }
          self->ReadPieces();
        });
  }

  void ReadBody() {
    if (parser_->is_done() || body_.size() >= body_limit_) {
      return server_.api().Handle(request_, body_,
                                  std::make_shared<Exchange>(this->shared_from_this()));
    }
    const size_t want = std::min(chunk_.size(), body_limit_ - body_.size());
    auto& body = parser_->get().body();
    body.data = chunk_.data();
    body.size = want;
    body.more = true;
    Lowest().expires_after(Timeout());
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this(), want](beast::error_code ec, size_t) {
          if (ec == http::error::need_buffer) ec = {};
          if (ec) return self->Close();  // the client went away
          const size_t got = want - self->parser_->get().body().size;
          self->body_.append(self->chunk_.data(), got);
          self->ReadBody();
        });
  }

  void Respond(HttpResponse answer) {
    server_.api().AddCommonHeaders(request_, answer);
    status_ = answer.status;
    response_.emplace(static_cast<http::status>(answer.status), 11);
    for (auto& [name, value] : answer.headers) response_->set(name, value);
    keep_alive_ = !broken_ && parser_->get().keep_alive() && parser_->is_done() &&
                  !server_.draining();
    response_->keep_alive(keep_alive_);
    if (request_.method == "HEAD") {
      response_->content_length(answer.body.size());
    } else {
      response_->body() = std::move(answer.body);
      response_->prepare_payload();
    }
    Lowest().expires_after(Timeout());
    http::async_write(stream_, *response_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        self->OnWritten(ec);
                      });
  }

  void OnWritten(beast::error_code ec) {
    server_.api().observer().RequestDone(route_, status_, absl::Now() - started_);
    in_flight_.reset();
    response_.reset();
    if (ec) return Close();
    if (keep_alive_) return ReadHeader();
    if (broken_ || parser_->is_done()) return Close();
    Linger();
  }

  // A streamed response: chunked, the connection closes after it. Requests
  // in flight no longer count it (drain ends streams instead of waiting).
  void BeginStream(HttpResponse head, std::shared_ptr<HttpStream> source) {
    server_.api().AddCommonHeaders(request_, head);
    status_ = head.status;
    stream_head_.emplace(static_cast<http::status>(head.status), 11);
    for (auto& [name, value] : head.headers) stream_head_->set(name, value);
    stream_head_->keep_alive(false);
    stream_head_->chunked(true);
    serializer_.emplace(*stream_head_);
    source_ = std::move(source);
    in_flight_.reset();
    server_.AddStream(this);
    std::weak_ptr<Connection> weak = this->shared_from_this();
    source_->Attach([weak, executor = stream_.get_executor()] {
      asio::post(executor, [weak] {
        if (auto self = weak.lock()) self->PumpStream();
      });
    });
    writing_ = true;
    Lowest().expires_after(Timeout());
    http::async_write_header(
        stream_, *serializer_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) {
          self->OnStreamWritten(ec);
          if (ec || self->closed_) return;
          // Drain began while the stream was being set up.
          if (self->server_.draining()) return self->EndStream();
          self->ArmHeartbeat();
          self->WatchPeer();
        });
  }

  void PumpStream() {
    if (writing_ || closed_) return;
    if (stream_done_) return WriteLastChunk();
    std::optional<std::string> piece = source_->Next();
    if (!piece && heartbeat_due_) piece = std::string(kHeartbeat);
    if (!piece) {
      if (source_->Finished()) EndStream();
      return;
    }
    heartbeat_due_ = false;
    out_ = std::move(*piece);
    writing_ = true;
    Lowest().expires_after(Timeout());
    asio::async_write(stream_, http::make_chunk(asio::buffer(out_)),
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        self->OnStreamWritten(ec);
                      });
  }

  void OnStreamWritten(beast::error_code ec) {
    writing_ = false;
    Lowest().expires_never();
    if (ec) {  // the client went away, or read too slowly for the timeout
      Close();
      return EndStream();
    }
    PumpStream();
  }

  // Finished, drained or the client gone: the source is told at once; the
  // last chunk goes out after a write in progress.
  void EndStream() {
    stream_done_ = true;
    heartbeat_.cancel();
    if (source_) {
      server_.RemoveStream(this);
      std::shared_ptr<HttpStream> source = std::move(source_);
      source_.reset();
      source->Closed();
      server_.api().observer().RequestDone(route_, status_, absl::Now() - started_);
    }
    if (!writing_) WriteLastChunk();
  }

  void WriteLastChunk() {
    if (closed_ || writing_) return;
    writing_ = true;
    Lowest().expires_after(Timeout());
    asio::async_write(stream_, http::make_chunk_last(),
                      [self = this->shared_from_this()](beast::error_code, size_t) {
                        self->writing_ = false;
                        self->Close();
                      });
  }

  void ArmHeartbeat() {
    heartbeat_.expires_after(
        absl::ToChronoNanoseconds(server_.options().stream_heartbeat));
    heartbeat_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->stream_done_) return;
      self->heartbeat_due_ = true;
      self->PumpStream();
      self->ArmHeartbeat();
    });
  }

  // A stream's client sends nothing more: anything readable (its close, a
  // reset) ends the stream at once rather than at the next write.
  void WatchPeer() {
    Lowest().socket().async_wait(tcp::socket::wait_read,
                                 [self = this->shared_from_this()](beast::error_code) {
                                   if (self->closed_) return;
                                   self->EndStream();
                                 });
  }

  // The body was left unread: stop sending, drop what still arrives for a
  // moment, then close.
  void Linger() {
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Lowest().expires_after(kLingerTime);
    Lowest().async_read_some(asio::buffer(chunk_), [self = this->shared_from_this()](
                                                       beast::error_code ec, size_t n) {
      self->lingered_ += n;
      if (ec || self->lingered_ >= kLingerBytes) return self->Close();
      self->Linger();
    });
  }

  void Close() {
    closed_ = true;
    heartbeat_.cancel();
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close();
  }

  Impl& server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::buffer_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  std::optional<http::response<http::string_body>> response_;
  std::optional<InFlight> in_flight_;
  // A streamed response (SSE).
  std::optional<http::response<http::empty_body>> stream_head_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
  std::shared_ptr<HttpStream> source_;
  asio::steady_timer heartbeat_{stream_.get_executor()};
  std::string out_;
  bool writing_ = false;
  bool stream_done_ = false;
  bool heartbeat_due_ = false;
  bool closed_ = false;
  std::array<char, kBodyChunk> chunk_{};
  std::vector<char> upload_chunk_;
  std::chrono::steady_clock::time_point upload_deadline_;  // the upload's whole time
  HttpExchange::PieceHandler on_piece_;
  HttpRequest request_;
  std::string body_;
  size_t body_limit_ = 0;
  size_t lingered_ = 0;
  std::string_view route_ = "unknown";
  int status_ = 0;
  bool keep_alive_ = false;
  bool broken_ = false;
  absl::Time started_;
};

void HttpServer::Impl::Accept() {
  acceptor_->async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
    if (!ec) {
      if (ssl_) {
        std::make_shared<Connection<true>>(*this, std::move(socket))->Start();
      } else {
        std::make_shared<Connection<false>>(*this, std::move(socket))->Start();
      }
    }
    Accept();
  });
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                              HttpApi& api) {
  auto impl = std::make_unique<Impl>(std::move(options), api);
  absl::StatusOr<int> port = impl->Listen();
  if (!port.ok()) return port.status();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl), *port));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

HttpServer::~HttpServer() {
  impl_->Drain(absl::Now());
  impl_->Stop();
}

void HttpServer::Drain(absl::Time deadline) { impl_->Drain(deadline); }

int HttpServer::in_flight() const { return impl_->in_flight(); }

int HttpServer::streams() const { return impl_->streams(); }

}  // namespace docshare
