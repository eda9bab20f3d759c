// The listener and sessions follow the structure of Beast's async HTTP server examples
// (example/http/server/async, example/advanced/server): a listener that accepts onto a new
// strand per connection, a session that reads one request with a fresh parser, answers it and
// reads the next, and a tcp_stream whose expiry bounds every read and write.
//
// Threading assumption: io.run() is called from one thread only. The service behind handle() is
// not thread-safe; the strands serialise each session, and with one thread running the
// io_context they are also serialised with the service's own handlers. Running the io_context on
// several threads would need the handler to post into the service's executor first.

#include "server/http_server.hpp"

#include "util/text.hpp"

#include <array>
#include <atomic>
#include <optional>
#include <unordered_map>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

namespace softpack::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Request line and headers; GitLab and softpack-core send far less.
constexpr std::uint32_t k_header_limit = 16 * 1024;
// After refusing a request whose body was not read, read (and discard) up to this much of it,
// for up to k_drain_time, so that closing the socket does not reset the connection before the
// client has read the answer (an RST discards data the client has not read yet).
constexpr std::size_t k_drain_limit = 8 * 1024 * 1024;
constexpr std::chrono::seconds k_drain_time{2};
// Back-off when accept fails (e.g. out of file descriptors), instead of spinning.
constexpr std::chrono::milliseconds k_accept_retry{100};

// A response body that refers to an immutable shared buffer, so that the service's cached
// documents (GET /environments/status) are written from its own string without a copy.
struct SharedStringBody {
  using value_type = std::shared_ptr<const std::string>;

  static std::uint64_t size(const value_type& body) { return body ? body->size() : 0; }

  class writer {
  public:
    using const_buffers_type = asio::const_buffer;

    template <bool is_request, class Fields>
    writer(const http::header<is_request, Fields>&, const value_type& body) : m_body(body) {}

    void init(beast::error_code& ec) { ec = {}; }

    boost::optional<std::pair<const_buffers_type, bool>> get(beast::error_code& ec) {
      ec = {};
      if (!m_body || m_body->empty()) {
        return boost::none;
      }
      return std::pair{asio::const_buffer(m_body->data(), m_body->size()), false};
    }

  private:
    const value_type& m_body;
  };
};

using OutgoingResponse = http::response<SharedStringBody>;

bool is_http_error(const beast::error_code& ec) {
  return &ec.category() == &http::make_error_code(http::error::bad_target).category();
}

class Session;

// The listener and what its sessions share (HttpServer::Impl is this, named in the header).
struct Listener : std::enable_shared_from_this<Listener> {
  Listener(asio::io_context& io_, ServiceApi& service_, ServerOptions options_)
      : io(io_), service(service_), options(std::move(options_)), acceptor(io_), retry(io_) {}

  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void stop_now();
  void count(int status) {
    const int cls = status / 100;
    if (cls >= 1 && cls <= 5) {
      answered[static_cast<std::size_t>(cls - 1)].fetch_add(1, std::memory_order_relaxed);
    }
  }

  asio::io_context& io;
  ServiceApi& service;
  const ServerOptions options;
  tcp::acceptor acceptor;
  asio::steady_timer retry;
  std::uint16_t bound_port = 0;
  bool stopping = false; // touched on the io_context thread only
  // Open sessions, so that stop() can close idle keep-alive connections. The io thread only.
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
  // Read by metrics_text(), which may run on any thread.
  std::array<std::atomic<std::uint64_t>, 5> answered{}; // 1xx .. 5xx
  std::atomic<std::uint64_t> open_connections{0};
  std::atomic<std::uint64_t> accepted{0};
};

class Session : public std::enable_shared_from_this<Session> {
public:
  Session(tcp::socket&& socket, std::shared_ptr<Listener> server)
      : m_stream(std::move(socket)), m_server(std::move(server)) {
    m_server->open_connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~Session() {
    m_server->sessions.erase(this);
    m_server->open_connections.fetch_sub(1, std::memory_order_relaxed);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void run() {
    m_server->sessions.emplace(this, weak_from_this());
    asio::dispatch(m_stream.get_executor(),
                   beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

  // The server is stopping: a connection waiting for a request that has not begun is closed
  // now; one in the middle of a request finishes it (see do_read and on_write).
  void on_stop() {
    if (m_reading && !m_parser->got_some() && m_buffer.size() == 0) {
      beast::error_code ec;
      m_stream.socket().close(ec);
    }
  }

  auto executor() { return m_stream.get_executor(); }

private:
  void do_read() {
    if (m_server->stopping) {
      return shutdown();
    }
    m_parser.emplace();
    m_parser->body_limit(m_server->options.handler.max_body_bytes);
    m_parser->header_limit(k_header_limit);
    m_stream.expires_after(m_server->options.read_timeout);
    m_reading = true;
    // The header first, so that a client waiting with "Expect: 100-continue" (curl does for
    // large bodies) can be told to go on, or refused before it sends the body.
    http::async_read_header(m_stream, m_buffer, *m_parser,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t n) {
    if (ec || m_parser->is_done()) {
      return on_read(ec, n);
    }
    const auto expect = m_parser->get()[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      static constexpr std::string_view k_continue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(m_stream, asio::buffer(k_continue.data(), k_continue.size()),
                        beast::bind_front_handler(&Session::on_continue, shared_from_this()));
      return;
    }
    read_body();
  }

  void on_continue(beast::error_code ec, std::size_t) {
    if (ec) {
      m_reading = false;
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(m_stream, m_buffer, *m_parser,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    m_reading = false;
    if (ec == http::error::end_of_stream) {
      return shutdown();
    }
    if (ec == http::error::body_limit) {
      return refuse(413, "request body over the limit of " +
                             std::to_string(m_server->options.handler.max_body_bytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return refuse(431, "request headers over the limit of " + std::to_string(k_header_limit) +
                             " bytes");
    }
    if (ec == http::error::partial_message) {
      return; // the client went away mid-request
    }
    if (is_http_error(ec)) {
      return refuse(400, "malformed HTTP request: " + ec.message());
    }
    if (ec) {
      // Timeout, reset, or closed by stop(): nothing to answer. The socket closes with us.
      return;
    }

    auto& message = m_parser->get();
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      request.headers.emplace(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    boost::system::error_code peer_ec;
    const auto peer = m_stream.socket().remote_endpoint(peer_ec);
    if (!peer_ec) {
      request.peer = peer.address().to_string();
    }
    const bool keep_alive = message.keep_alive() && !m_server->stopping;
    const bool head = message.method() == http::verb::head;

    Response response = handle(request, m_server->service, m_server->options.handler);
    send(std::move(response), keep_alive, head, false);
  }

  // Answers a request that could not be read completely, then closes the connection.
  void refuse(int status, std::string_view message) {
    Response r;
    r.status = status;
    r.body = error_json(message);
    send(std::move(r), false, false, true);
  }

  void send(Response&& response, bool keep_alive, bool head, bool drain) {
    m_server->count(response.status);
    m_drain = drain;
    m_res = {};
    m_res.version(11);
    m_res.result(static_cast<unsigned>(response.status));
    m_res.set(http::field::server, "softpack-builder");
    m_res.set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) {
      m_res.insert(name, value);
    }
    m_res.body() = response.shared_body
                       ? std::move(response.shared_body)
                       : std::make_shared<const std::string>(std::move(response.body));
    m_res.keep_alive(keep_alive);
    m_res.prepare_payload();
    if (head) {
      m_res.body() = nullptr; // Content-Length stays that of the GET answer
    }
    m_stream.expires_after(m_server->options.write_timeout);
    http::async_write(m_stream, m_res,
                      beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    m_res.body() = nullptr;
    if (ec) {
      return;
    }
    if (!m_res.keep_alive()) {
      return shutdown();
    }
    do_read();
  }

  void shutdown() {
    beast::error_code ec;
    m_stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (m_drain && !ec) {
      m_drained = 0;
      m_stream.expires_after(std::min<std::chrono::steady_clock::duration>(
          m_server->options.read_timeout, k_drain_time));
      do_drain();
    }
  }

  void do_drain() {
    if (!m_scratch) {
      m_scratch = std::make_unique<std::array<char, 16 * 1024>>();
    }
    m_stream.async_read_some(asio::buffer(*m_scratch),
                             beast::bind_front_handler(&Session::on_drain, shared_from_this()));
  }

  void on_drain(beast::error_code ec, std::size_t n) {
    m_drained += n;
    if (!ec && m_drained < k_drain_limit) {
      do_drain();
    }
  }

  beast::tcp_stream m_stream;
  beast::flat_buffer m_buffer;
  std::shared_ptr<Listener> m_server;
  std::optional<http::request_parser<http::string_body>> m_parser;
  OutgoingResponse m_res;
  bool m_reading = false;
  bool m_drain = false;
  std::size_t m_drained = 0;
  std::unique_ptr<std::array<char, 16 * 1024>> m_scratch;
};

void Listener::do_accept() {
  // Each connection gets its own strand (see the threading note at the top).
  acceptor.async_accept(asio::make_strand(io),
                        beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
}

void Listener::on_accept(beast::error_code ec, tcp::socket socket) {
  if (stopping || !acceptor.is_open()) {
    return;
  }
  if (ec) {
    spdlog::warn("http: accept failed: {}", ec.message());
    retry.expires_after(k_accept_retry);
    retry.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
      if (!wait_ec && !self->stopping) {
        self->do_accept();
      }
    });
    return;
  }
  accepted.fetch_add(1, std::memory_order_relaxed);
  beast::error_code ignored;
  // Responses go out in one write; without this the tail segment of a large body can wait
  // for the client's delayed ACK.
  socket.set_option(tcp::no_delay(true), ignored);
  std::make_shared<Session>(std::move(socket), shared_from_this())->run();
  do_accept();
}

void Listener::stop_now() {
  stopping = true;
  beast::error_code ec;
  acceptor.close(ec);
  retry.cancel();
  // Collected first: releasing a session can erase it from the map.
  std::vector<std::shared_ptr<Session>> open;
  for (auto& [raw, weak] : sessions) {
    if (auto session = weak.lock()) {
      open.push_back(std::move(session));
    }
  }
  for (auto& session : open) {
    asio::post(session->executor(), [session] { session->on_stop(); });
  }
}

} // namespace

struct HttpServer::Impl : Listener {
  using Listener::Listener;
};

Expected<void> check_listen_address(std::string_view address) {
  beast::error_code ec;
  asio::ip::make_address(std::string(address), ec);
  if (ec) {
    return make_error(ErrorKind::config,
                      "'" + printable(address) +
                          "' is not an IP address (host names are not resolved: use 127.0.0.1 "
                          "for this host only, 0.0.0.0 for every interface)");
  }
  return {};
}

HttpServer::HttpServer(asio::io_context& io, ServiceApi& service, ServerOptions options)
    : m_impl(std::make_shared<Impl>(io, service, std::move(options))) {}

HttpServer::~HttpServer() {
  // Sessions still queued on the io_context keep Impl alive; they must not accept again.
  m_impl->stopping = true;
  beast::error_code ec;
  m_impl->acceptor.close(ec);
}

Expected<void> HttpServer::start() {
  const std::string where = m_impl->options.address + ":" + std::to_string(m_impl->options.port);
  auto fail = [&](std::string_view what, const beast::error_code& ec) -> Expected<void> {
    beast::error_code ignored;
    m_impl->acceptor.close(ignored);
    return make_error(ErrorKind::config, std::string(what) + ": " + ec.message(),
                      "http listener " + where);
  };
  if (auto ok = check_listen_address(m_impl->options.address); !ok) {
    return ok.error().with_context("http listener " + where);
  }
  beast::error_code ec;
  const auto address = asio::ip::make_address(m_impl->options.address, ec);
  if (ec) {
    return fail("not an IP address", ec);
  }
  const tcp::endpoint endpoint(address, m_impl->options.port);
  auto& acceptor = m_impl->acceptor;
  if (acceptor.open(endpoint.protocol(), ec); ec) {
    return fail("open", ec);
  }
  if (acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec) {
    return fail("set_option", ec);
  }
  if (acceptor.bind(endpoint, ec); ec) {
    return fail("bind", ec);
  }
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return fail("listen", ec);
  }
  m_impl->bound_port = acceptor.local_endpoint(ec).port();
  m_impl->do_accept();
  return {};
}

void HttpServer::stop() {
  // The acceptor and the session list belong to the io_context thread: run there (at once when
  // called from it, e.g. from a signal handler).
  asio::dispatch(m_impl->io, [impl = m_impl] { impl->stop_now(); });
}

std::uint16_t HttpServer::port() const {
  return m_impl->bound_port;
}

std::string HttpServer::metrics_text() const {
  std::string out;
  out += "# HELP softpack_http_requests_total HTTP requests answered, by status class.\n";
  out += "# TYPE softpack_http_requests_total counter\n";
  for (std::size_t i = 0; i < m_impl->answered.size(); ++i) {
    out += "softpack_http_requests_total{code=\"" + std::to_string(i + 1) + "xx\"} " +
           std::to_string(m_impl->answered[i].load(std::memory_order_relaxed)) + "\n";
  }
  out += "# HELP softpack_http_connections_accepted_total HTTP connections accepted.\n";
  out += "# TYPE softpack_http_connections_accepted_total counter\n";
  out += "softpack_http_connections_accepted_total " +
         std::to_string(m_impl->accepted.load(std::memory_order_relaxed)) + "\n";
  out += "# HELP softpack_http_connections Open HTTP connections.\n";
  out += "# TYPE softpack_http_connections gauge\n";
  out += "softpack_http_connections " +
         std::to_string(m_impl->open_connections.load(std::memory_order_relaxed)) + "\n";
  return out;
}

} // namespace softpack::server
