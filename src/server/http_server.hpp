#pragma once

// The HTTP/1.1 listener and sessions (Boost.Beast): they only do I/O and call server::handle().
// One strand per connection; a read timeout and a write timeout on every operation; the
// request body is capped (413 beyond it); keep-alive honoured. stop() closes the acceptor and
// lets in-flight requests finish.
//
// Threading: handle() runs on the io_context, which must be run by one thread only (the service
// is not thread-safe). stop() and metrics_text() may be called from any thread; start() and the
// destructor from the io_context's thread or while it is not running.

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
  struct Impl;
  std::shared_ptr<Impl> m_impl;
};

} // namespace softpack::server
