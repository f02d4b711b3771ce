#ifndef DOCSHARE_HTTP_LISTEN_H_
#define DOCSHARE_HTTP_LISTEN_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace docshare {

// A listening TCP socket on `address` ("host:port", "[v6]:port"; host an IP
// address, localhost, 0.0.0.0 or [::], both of which take IPv4 and IPv6;
// port 0 picks one). INVALID_ARGUMENT names `flag` for a malformed address;
// UNAVAILABLE when it cannot be bound (in use, not this machine's).
absl::StatusOr<std::unique_ptr<boost::asio::ip::tcp::acceptor>> ListenTcp(
    boost::asio::io_context& ioc, const std::string& address, std::string_view flag);

}  // namespace docshare

#endif  // DOCSHARE_HTTP_LISTEN_H_
