#pragma once

// The HTTP/1.1 listener and sessions (Boost.Beast): they only do I/O and call server::handle().
// One strand per connection; a read timeout and a write timeout on every operation; the
// request body is capped (413 beyond it); keep-alive honoured. stop() closes the acceptor and
// lets in-flight requests finish.
//
// Threading: handle() runs on the io_context, which must be run by one thread only (the service
// is not thread-safe). stop() and metrics_text() may be called from any thread; start() and the
// destructor from the io_context's thread or while it is not running.

#include "auth/accounts.hpp"
#include "auth/munge_codec.hpp"
#include "server/api.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

namespace softpack::server {

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 7080; // 0 = any free port (see HttpServer::port())
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds write_timeout{30};
  HandlerOptions handler;
  // A Unix-domain socket to listen on as well ("" = none), and its file's mode. Its callers are
  // identified by SO_PEERCRED. A stale socket file (nobody accepting) is replaced; a live one,
  // or a file that is not a socket, is an error.
  std::string socket_path;
  int socket_mode = 0666;
  // Resolve MUNGE credentials (when handler.munge) and socket peers: blocking calls, run on a
  // small pool of their own, never on the io_context. Required when identity is on.
  std::shared_ptr<auth::MungeCodec> munge;
  std::shared_ptr<auth::Accounts> accounts;
  // Identities being resolved at once; more get 503.
  std::size_t max_pending_auth = 64;
  // server.user_rate_limit (requests 0 = none).
  int rate_limit_requests = 0;
  std::chrono::seconds rate_limit_per{60};
};

// Whether the server can listen on `address`: an IP address (IPv4 or IPv6), not a host name
// such as localhost, which is never resolved. start() refuses what this refuses; the error
// (ErrorKind::config) quotes the address. For checking a configuration before serving.
Expected<void> check_listen_address(std::string_view address);

class HttpServer {
public:
  HttpServer(boost::asio::io_context& io, ServiceApi& service, ServerOptions options);
  ~HttpServer();
  // Binds and starts accepting. Errors name the address and port.
  Expected<void> start();
  // Stops accepting; open connections finish their current request and close.
  void stop();
  // The bound port (useful with port 0).
  std::uint16_t port() const;
  // Requests answered so far, by status class, for metrics.
  std::string metrics_text() const;

private:
  Expected<void> start_socket();
  struct Impl;
  std::shared_ptr<Impl> m_impl;
};

} // namespace softpack::server
