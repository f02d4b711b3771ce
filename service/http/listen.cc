#include "service/http/listen.h"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/beast/core/error.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace docshare {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

struct Endpoint {
  bool wildcard = false;  // every address, IPv4 and IPv6
  asio::ip::address address;
  unsigned short port = 0;
};

absl::StatusOr<Endpoint> ParseAddress(const std::string& address, std::string_view flag) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", std::string(flag), " ", address, ": ", std::string(why)));
  };
  std::string host;
  std::string port;
  if (!address.empty() && address[0] == '[') {
    const size_t close = address.find(']');
    if (close == std::string::npos || address.substr(close + 1, 1) != ":") {
      return bad("expected [v6 address]:port");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos || address.find(':') != colon) {
      return bad("expected host:port or [v6 address]:port");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  Endpoint endpoint;
  uint32_t number = 0;
  if (!absl::SimpleAtoi(port, &number) || number > 65535) return bad("bad port");
  endpoint.port = static_cast<unsigned short>(number);
  if (host.empty() || host == "0.0.0.0" || host == "::") {
    endpoint.wildcard = true;
    return endpoint;
  }
  if (host == "localhost") host = "127.0.0.1";
  beast::error_code ec;
  endpoint.address = asio::ip::make_address(host, ec);
  if (ec) return bad("the host must be an IP address, localhost, 0.0.0.0 or [::]");
  return endpoint;
}

}  // namespace

absl::StatusOr<std::unique_ptr<tcp::acceptor>> ListenTcp(asio::io_context& ioc,
                                                         const std::string& address,
                                                         std::string_view flag) {
  absl::StatusOr<Endpoint> endpoint = ParseAddress(address, flag);
  if (!endpoint.ok()) return endpoint.status();
  auto acceptor = std::make_unique<tcp::acceptor>(ioc);
  beast::error_code ec;
  if (endpoint->wildcard) {
    // One IPv6 socket that also takes IPv4 (mapped addresses); a host
    // without IPv6 gets an IPv4 one.
    acceptor->open(tcp::v6(), ec);
    if (!ec) acceptor->set_option(asio::ip::v6_only(false), ec);
    if (!ec) {
      acceptor->set_option(asio::socket_base::reuse_address(true), ec);
      acceptor->bind(tcp::endpoint(tcp::v6(), endpoint->port), ec);
    }
    if (ec) {
      acceptor = std::make_unique<tcp::acceptor>(ioc);
      ec.clear();
      acceptor->open(tcp::v4(), ec);
      if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) acceptor->bind(tcp::endpoint(tcp::v4(), endpoint->port), ec);
    }
  } else {
    const tcp::endpoint at(endpoint->address, endpoint->port);
    acceptor->open(at.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(at, ec);
  }
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen on --", std::string(flag),
                                               " ", address, ": ", ec.message()));
  }
  return acceptor;
}

}  // namespace docshare
