#include "service/metrics/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace docshare {
namespace {

constexpr char kTextExposition[] = "text/plain; version=0.0.4; charset=utf-8";

// Writes a whole response; returns the status, as civetweb handlers must.
int Reply(mg_connection* conn, int status, std::string_view reason,
          std::string_view content_type, std::string_view body) {
  const mg_request_info* request = mg_get_request_info(conn);
  const bool head =
      request != nullptr && std::strcmp(request->request_method, "HEAD") == 0;
  const std::string header =
      absl::StrCat("HTTP/1.1 ", status, " ", std::string(reason),
                   "\r\nContent-Type: ", std::string(content_type),
                   "\r\nContent-Length: ", body.size(),
                   "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
  mg_write(conn, header.data(), header.size());
  if (!head) mg_write(conn, body.data(), body.size());
  return status;
}

// Only GET and HEAD: anything else is 405, so a probe misconfigured to POST
// fails loudly instead of seeming healthy.
bool IsRead(mg_connection* conn) {
  const mg_request_info* request = mg_get_request_info(conn);
  if (request == nullptr) return false;
  return std::strcmp(request->request_method, "GET") == 0 ||
         std::strcmp(request->request_method, "HEAD") == 0;
}

int NotAllowed(mg_connection* conn) {
  return Reply(conn, 405, "Method Not Allowed", "text/plain", "method not allowed\n");
}

// Opens and closes one connection to the listener at `address` ("host:port",
// the host maybe empty, a wildcard or a bracketed IPv6 address) on `port`.
void Knock(const std::string& address, int port) {
  std::string host = address.substr(0, address.rfind(':'));
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  sockaddr_storage storage{};
  socklen_t length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    length = sizeof(*v4);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    length = sizeof(*v6);
  } else {
    return;  // a name: mg_stop then takes its full poll period, nothing worse
  }
  const int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  connect(fd, reinterpret_cast<sockaddr*>(&storage), length);
  close(fd);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    Options options) {
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer(std::move(options)));
  const std::string threads = std::to_string(server->options_.threads);
  const char* config[] = {"listening_ports",
                          server->options_.address.c_str(),
                          "num_threads",
                          threads.c_str(),
                          "request_timeout_ms",
                          "10000",
                          "enable_keep_alive",
                          "no",
                          nullptr};
  mg_callbacks callbacks{};
  mg_init_data init{&callbacks, server.get(), config};
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof(error_text)};
  server->context_ = mg_start2(&init, &error);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on --metrics-address ", server->options_.address,
                     ": ", error_text[0] ? error_text : "unknown error"));
  }
  // "$" anchors the pattern: "/metricsfoo" is a 404, not the metrics page.
  mg_set_request_handler(server->context_, "/metrics$", &ServeMetrics, server.get());
  mg_set_request_handler(server->context_, "/healthz$", &ServeHealth, server.get());
  mg_set_request_handler(server->context_, "/readyz$", &ServeReady, server.get());
  mg_server_port ports[4] = {};
  const int n = mg_get_server_ports(server->context_, 4, ports);
  if (n < 1 || ports[0].port <= 0) {
    return absl::InternalError(absl::StrCat("civetweb bound ", server->options_.address,
                                            " but reports no port"));
  }
  server->port_ = ports[0].port;
  return server;
}

MetricsHttpServer::MetricsHttpServer(Options options) : options_(std::move(options)) {
  // Reference-counted inside civetweb; paired with mg_exit_library below.
  mg_init_library(0);
}

MetricsHttpServer::~MetricsHttpServer() {
  if (context_ != nullptr) {
    // civetweb's accept loop polls with a 2 s timeout before it looks at the
    // stop flag mg_stop sets; a connection wakes it at once, so shutdown (and
    // every test) does not wait those 2 s.
    std::atomic<bool> stopped{false};
    std::thread stopper([&] {
      mg_stop(context_);
      stopped = true;
    });
    while (!stopped) {
      Knock(options_.address, port_);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stopper.join();
  }
  mg_exit_library();
}

int MetricsHttpServer::ServeMetrics(mg_connection* conn, void* self) {
  if (!IsRead(conn)) return NotAllowed(conn);
  const auto& server = *static_cast<const MetricsHttpServer*>(self);
  std::vector<prometheus::MetricFamily> families;
  for (const auto& collectable : server.options_.collectables) {
    std::vector<prometheus::MetricFamily> more = collectable->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  return Reply(conn, 200, "OK", kTextExposition,
               prometheus::TextSerializer().Serialize(families));
}

int MetricsHttpServer::ServeHealth(mg_connection* conn, void* /*self*/) {
  if (!IsRead(conn)) return NotAllowed(conn);
  return Reply(conn, 200, "OK", "text/plain", "ok\n");
}

int MetricsHttpServer::ServeReady(mg_connection* conn, void* self) {
  if (!IsRead(conn)) return NotAllowed(conn);
  const auto& server = *static_cast<const MetricsHttpServer*>(self);
  if (server.options_.ready && server.options_.ready()) {
    return Reply(conn, 200, "OK", "text/plain", "ready\n");
  }
  return Reply(conn, 503, "Service Unavailable", "text/plain", "not ready\n");
}

}  // namespace docshare
