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

#include "auth/authorization_header.hpp"
#include "auth/resolver.hpp"
#include "util/text.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <type_traits>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

namespace softpack::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;
using LocalStream = beast::basic_stream<local>;

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

// What the listener knows of a session, whatever its stream.
struct SessionBase {
  virtual ~SessionBase() = default;
  virtual void on_stop() = 0;
  virtual asio::any_io_executor executor() = 0;
};

ServerOptions with_limiter(ServerOptions options, auth::RateLimiter* limiter) {
  options.handler.rate_limiter = limiter;
  return options;
}

// The listener and what its sessions share (HttpServer::Impl is this, named in the header).
struct Listener : std::enable_shared_from_this<Listener> {
  Listener(asio::io_context& io_, ServiceApi& service_, ServerOptions options_)
      : limiter(options_.rate_limit_requests, options_.rate_limit_per), io(io_), service(service_),
        options(with_limiter(std::move(options_),
                             options_.rate_limit_requests > 0 ? &limiter : nullptr)),
        acceptor(io_), local_acceptor(io_), retry(io_), local_retry(io_) {
    if (options.munge || options.accounts) {
      auth_pool = std::make_unique<asio::thread_pool>(2);
    }
  }
  ~Listener() {
    if (auth_pool) {
      auth_pool->join();
    }
  }

  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void do_accept_local();
  // After a failed accept (e.g. out of file descriptors): `again` after a pause, not in a spin.
  void accept_later(const beast::error_code& ec, std::string_view where, asio::steady_timer& timer,
                    void (Listener::*again)());
  void on_accept_local(beast::error_code ec, local::socket socket);
  void stop_now();
  void count(int status) {
    const int cls = status / 100;
    if (cls >= 1 && cls <= 5) {
      answered[static_cast<std::size_t>(cls - 1)].fetch_add(1, std::memory_order_relaxed);
    }
  }

  auth::RateLimiter limiter; // before options, which point at it
  asio::io_context& io;
  ServiceApi& service;
  const ServerOptions options;
  tcp::acceptor acceptor;
  local::acceptor local_acceptor;
  ino_t socket_inode = 0;         // of the socket file we made, removed on stop if still ours
  asio::steady_timer retry;       // TCP accepts after a failure
  asio::steady_timer local_retry; // Unix-socket accepts after a failure
  // Where MUNGE credentials and socket peers are resolved (blocking calls), and how many are.
  std::unique_ptr<asio::thread_pool> auth_pool;
  std::atomic<std::size_t> pending_auth{0};
  std::uint16_t bound_port = 0;
  bool stopping = false; // touched on the io_context thread only
  // Open sessions, so that stop() can close idle keep-alive connections. The io thread only.
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;
  // Read by metrics_text(), which may run on any thread.
  std::array<std::atomic<std::uint64_t>, 5> answered{}; // 1xx .. 5xx
  std::atomic<std::uint64_t> open_connections{0};
  std::atomic<std::uint64_t> accepted{0};
};

// Whether a TCP request carries a MUNGE credential (decoded off the io thread).
std::optional<std::string> munge_credential(const Request& request) {
  auto it = request.headers.find("Authorization");
  if (it == request.headers.end()) {
    return std::nullopt;
  }
  auto parsed = auth::parse_authorization(it->second);
  if (!parsed || parsed->scheme != auth::AuthHeader::Scheme::munge) {
    return std::nullopt; // the handler answers a malformed header
  }
  return std::move(parsed->credential);
}

// One connection, over TCP (beast::tcp_stream) or the Unix socket (LocalStream).
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool k_unix = std::is_same_v<Stream, LocalStream>;

public:
  Session(typename Stream::socket_type&& socket, std::shared_ptr<Listener> server,
          std::optional<std::uint32_t> peer_uid = std::nullopt)
      : m_stream(std::move(socket)), m_server(std::move(server)), m_peer_uid(peer_uid) {
    m_server->open_connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~Session() {
    m_server->sessions.erase(this);
    m_server->open_connections.fetch_sub(1, std::memory_order_relaxed);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void run() {
    m_server->sessions.emplace(this, this->weak_from_this());
    asio::dispatch(m_stream.get_executor(),
                   beast::bind_front_handler(&Session::do_read, this->shared_from_this()));
  }

  // The server is stopping: a connection waiting for a request that has not begun is closed
  // now; one in the middle of a request finishes it (see do_read and on_write).
  void on_stop() override {
    if (m_reading && !m_parser->got_some() && m_buffer.size() == 0) {
      beast::error_code ec;
      m_stream.socket().close(ec);
    }
  }

  asio::any_io_executor executor() override { return m_stream.get_executor(); }

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
    http::async_read_header(
        m_stream, m_buffer, *m_parser,
        beast::bind_front_handler(&Session::on_header, this->shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t n) {
    if (ec || m_parser->is_done()) {
      return on_read(ec, n);
    }
    const auto expect = m_parser->get()[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      static constexpr std::string_view k_continue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(m_stream, asio::buffer(k_continue.data(), k_continue.size()),
                        beast::bind_front_handler(&Session::on_continue, this->shared_from_this()));
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
                     beast::bind_front_handler(&Session::on_read, this->shared_from_this()));
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
    if constexpr (k_unix) {
      request.unix_socket = true;
    } else {
      boost::system::error_code peer_ec;
      const auto peer = m_stream.socket().remote_endpoint(peer_ec);
      if (!peer_ec) {
        request.peer = peer.address().to_string();
      }
    }
    const bool keep_alive = message.keep_alive() && !m_server->stopping;
    const bool head = message.method() == http::verb::head;

    // Socket peers, and MUNGE credentials on TCP, are resolved to a caller first.
    std::optional<std::string> credential;
    if constexpr (!k_unix) {
      if (m_server->options.handler.munge) {
        credential = munge_credential(request);
      }
    }
    if (k_unix || credential) {
      if (m_server->stopping) {
        request.auth_failure = auth::AuthFailure{503, "the service is stopping"};
      } else if (m_server->auth_pool) {
        return resolve(std::move(request), std::move(credential), keep_alive, head);
      } else if (k_unix) {
        request.auth_failure = auth::AuthFailure{503, "cannot identify socket peers here"};
      }
    }
    answer(request, keep_alive, head);
  }

  // Who sent the request, found on the auth pool (munged and NSS may block); then answered back
  // on this session's strand.
  void resolve(Request&& request, std::optional<std::string> credential, bool keep_alive,
               bool head) {
    if (m_server->pending_auth.fetch_add(1) >= m_server->options.max_pending_auth) {
      m_server->pending_auth.fetch_sub(1);
      request.auth_failure =
          auth::AuthFailure{503, "too many identity checks in progress; retry shortly"};
      return answer(request, keep_alive, head);
    }
    auto req = std::make_shared<Request>(std::move(request));
    auto done = [self = this->shared_from_this(), req, keep_alive,
                 head](auth::Resolution resolution) mutable {
      if (auto* p = std::get_if<auth::Principal>(&resolution)) {
        req->principal = std::move(*p);
      } else {
        req->auth_failure = std::get<auth::AuthFailure>(std::move(resolution));
      }
      auto executor = self->m_stream.get_executor();
      // The session moves to the io thread with the handler: the pool never holds the last
      // reference (which would destroy the pool from its own thread).
      asio::post(executor, [self = std::move(self), req = std::move(req), keep_alive, head] {
        self->m_server->pending_auth.fetch_sub(1);
        self->answer(*req, keep_alive, head);
      });
    };
    asio::post(*m_server->auth_pool, [server = m_server.get(), req, uid = m_peer_uid,
                                      credential = std::move(credential),
                                      done = std::move(done)]() mutable {
      auth::Resolution resolution = auth::AuthFailure{503, "identity check failed"};
      try {
        if (credential) {
          resolution = auth::resolve_munge(*credential, req->method, req->target, req->body,
                                           *server->options.munge, *server->options.accounts);
        } else if (uid) {
          resolution = auth::resolve_peer(*uid, *server->options.accounts);
        } else {
          resolution = auth::AuthFailure{401, "the socket peer's credentials are unknown"};
        }
      } catch (const std::exception& e) {
        resolution = auth::AuthFailure{503, std::string("identity check failed: ") + e.what()};
      }
      done(std::move(resolution));
    });
  }

  void answer(const Request& request, bool keep_alive, bool head) {
    Response response = handle(request, m_server->service, m_server->options.handler);
    if (!response.audit.empty()) {
      spdlog::info("audit: {}", response.audit);
    }
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
                      beast::bind_front_handler(&Session::on_write, this->shared_from_this()));
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
    m_stream.socket().shutdown(asio::socket_base::shutdown_send, ec);
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
    m_stream.async_read_some(
        asio::buffer(*m_scratch),
        beast::bind_front_handler(&Session::on_drain, this->shared_from_this()));
  }

  void on_drain(beast::error_code ec, std::size_t n) {
    m_drained += n;
    if (!ec && m_drained < k_drain_limit) {
      do_drain();
    }
  }

  Stream m_stream;
  beast::flat_buffer m_buffer;
  std::shared_ptr<Listener> m_server;
  std::optional<std::uint32_t> m_peer_uid; // SO_PEERCRED, read at accept (Unix socket only)
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
    return accept_later(ec, "", retry, &Listener::do_accept);
  }
  accepted.fetch_add(1, std::memory_order_relaxed);
  beast::error_code ignored;
  // Responses go out in one write; without this the tail segment of a large body can wait
  // for the client's delayed ACK.
  socket.set_option(tcp::no_delay(true), ignored);
  std::make_shared<Session<beast::tcp_stream>>(std::move(socket), shared_from_this())->run();
  do_accept();
}

void Listener::accept_later(const beast::error_code& ec, std::string_view where,
                            asio::steady_timer& timer, void (Listener::*again)()) {
  spdlog::warn("http: accept{} failed: {}", where, ec.message());
  timer.expires_after(k_accept_retry);
  timer.async_wait([self = shared_from_this(), again](beast::error_code wait_ec) {
    if (!wait_ec && !self->stopping) {
      ((*self).*again)();
    }
  });
}

void Listener::do_accept_local() {
  local_acceptor.async_accept(
      asio::make_strand(io),
      beast::bind_front_handler(&Listener::on_accept_local, shared_from_this()));
}

void Listener::on_accept_local(beast::error_code ec, local::socket socket) {
  if (stopping || !local_acceptor.is_open()) {
    return;
  }
  if (ec) {
    return accept_later(ec, " on " + options.socket_path, local_retry, &Listener::do_accept_local);
  }
  accepted.fetch_add(1, std::memory_order_relaxed);
  // Who connected, as the kernel saw it at connect(2): the identity of every request on this
  // connection.
  std::optional<std::uint32_t> uid;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
      len == sizeof cred) {
    uid = cred.uid;
  } else {
    spdlog::warn("http: no peer credentials on {}: {}", options.socket_path, std::strerror(errno));
  }
  std::make_shared<Session<LocalStream>>(std::move(socket), shared_from_this(), uid)->run();
  do_accept_local();
}

// The socket file we made, when it still is ours (not replaced by another process since).
bool socket_file_is(const std::string& path, ino_t inode) {
  struct stat st {};
  return inode != 0 && ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
         st.st_ino == inode;
}

void remove_socket_file(Listener& l) {
  if (socket_file_is(l.options.socket_path, l.socket_inode)) {
    ::unlink(l.options.socket_path.c_str());
  }
  l.socket_inode = 0;
}

void Listener::stop_now() {
  stopping = true;
  beast::error_code ec;
  acceptor.close(ec);
  if (local_acceptor.is_open()) {
    local_acceptor.close(ec);
    remove_socket_file(*this);
  }
  retry.cancel();
  local_retry.cancel();
  // Collected first: releasing a session can erase it from the map.
  std::vector<std::shared_ptr<SessionBase>> open;
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
  if (m_impl->local_acceptor.is_open()) {
    m_impl->local_acceptor.close(ec);
    remove_socket_file(*m_impl);
  }
  // Identity checks in progress finish (their answers are queued on the io_context, which
  // outlives this object); none starts any more (stopping).
  if (m_impl->auth_pool) {
    m_impl->auth_pool->join();
  }
}

namespace {

// Makes way for the Unix socket at `path`: a stale socket file (nobody accepting) is removed; a
// live socket, or anything that is not a socket, is an error.
Expected<void> clear_socket_path(const std::string& path) {
  const std::string where = "server.socket " + printable(path);
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return make_error(ErrorKind::config,
                      "longer than a Unix socket path may be (" +
                          std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)",
                      where);
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      const auto dir = std::filesystem::path(path).parent_path();
      if (!std::filesystem::is_directory(dir)) {
        return make_error(ErrorKind::config,
                          "its directory " + printable(dir.string()) +
                              " does not exist (systemd: RuntimeDirectory=softpack-builder)",
                          where);
      }
      return {};
    }
    return make_error(ErrorKind::config, std::strerror(errno), where);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return make_error(ErrorKind::config, "exists and is not a socket; not replaced", where);
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return make_error(ErrorKind::io, std::strerror(errno), where);
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, path.size());
  const int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  ::close(fd);
  if (r == 0) {
    return make_error(ErrorKind::config, "another process is serving on it", where);
  }
  if (err != ECONNREFUSED && err != ENOENT) {
    return make_error(ErrorKind::config,
                      std::string("cannot tell whether it is in use: ") + std::strerror(err),
                      where);
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return make_error(ErrorKind::config,
                      std::string("cannot remove the stale socket: ") + std::strerror(errno),
                      where);
  }
  spdlog::info("http: removed the stale socket {}", printable(path));
  return {};
}

} // namespace

Expected<void> HttpServer::start_socket() {
  auto& l = *m_impl;
  const std::string& path = l.options.socket_path;
  const std::string where = "server.socket " + printable(path);
  SOFTPACK_TRY(clear_socket_path(path));
  beast::error_code ec;
  auto fail = [&](std::string_view what) -> Expected<void> {
    beast::error_code ignored;
    l.local_acceptor.close(ignored);
    return make_error(ErrorKind::config, std::string(what) + ": " + ec.message(), where);
  };
  const local::endpoint endpoint(path);
  if (l.local_acceptor.open(endpoint.protocol(), ec); ec) {
    return fail("open");
  }
  if (l.local_acceptor.bind(endpoint, ec); ec) {
    return fail("bind");
  }
  struct stat st {};
  if (::chmod(path.c_str(), static_cast<mode_t>(l.options.socket_mode)) != 0 ||
      ::lstat(path.c_str(), &st) != 0) {
    ec.assign(errno, boost::system::system_category());
    ::unlink(path.c_str());
    return fail("chmod");
  }
  l.socket_inode = st.st_ino;
  if (l.local_acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    remove_socket_file(l);
    return fail("listen");
  }
  l.do_accept_local();
  return {};
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
  if (!m_impl->options.socket_path.empty()) {
    if (auto r = start_socket(); !r) {
      beast::error_code ignored;
      acceptor.close(ignored);
      return r;
    }
  }
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
