#include "server/http_server.hpp"
#include "support/fake_service.hpp"

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

using namespace softpack;
using namespace softpack::server;
using softpack::testing::FakeService;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// A server on 127.0.0.1 with a free port, its io_context run on a thread of its own.
class TestServer {
public:
  explicit TestServer(ServerOptions options = make_options())
      : m_server(m_io, service, std::move(options)) {}
  ~TestServer() {
    if (m_thread.joinable()) {
      m_server.stop();
      m_thread.join();
    }
  }

  static ServerOptions make_options() {
    ServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.read_timeout = 5s;
    o.write_timeout = 5s;
    o.handler.max_body_bytes = 1024;
    return o;
  }

  void start() {
    auto started = m_server.start();
    INFO((started ? std::string() : started.error().describe()));
    REQUIRE(started);
    std::promise<void> done;
    m_finished = done.get_future();
    m_thread = std::thread([this, done = std::move(done)]() mutable {
      m_io.run();
      done.set_value();
    });
  }

  // Stops and waits up to `limit` for io.run() to return; true when it did.
  bool stop_and_wait(std::chrono::milliseconds limit) {
    m_server.stop();
    if (m_finished.wait_for(limit) != std::future_status::ready) {
      return false;
    }
    m_thread.join();
    return true;
  }

  std::uint16_t port() const { return m_server.port(); }
  HttpServer& server() { return m_server; }

  FakeService service; // touched by the io thread while it runs

private:
  asio::io_context m_io;
  HttpServer m_server;
  std::thread m_thread;
  std::future<void> m_finished;
};

// A plain client: Beast's HTTP messages over a TCP stream, each operation bounded by a timeout
// so that a broken server fails the test instead of hanging it.
class Client {
public:
  explicit Client(std::uint16_t port) : m_stream(m_io) {
    const auto ec = await([&](auto handler) {
      m_stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                             [handler](beast::error_code e) { handler(e, 0); });
    });
    REQUIRE_FALSE(ec);
  }

  http::response<http::string_body> request(http::verb method, const std::string& target,
                                            std::string body = {}, bool keep_alive = true) {
    http::request<http::string_body> req(method, target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(keep_alive);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = std::move(body);
    }
    req.prepare_payload();
    auto ec = await([&](auto handler) { http::async_write(m_stream, req, handler); });
    REQUIRE_FALSE(ec);
    return read(method == http::verb::head);
  }

  http::response<http::string_body> read(bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.skip(head); // an answer to HEAD has Content-Length but no body
    parser.body_limit(16 * 1024 * 1024);
    const auto ec =
        await([&](auto handler) { http::async_read(m_stream, m_buffer, parser, handler); });
    INFO(ec.message());
    REQUIRE_FALSE(ec);
    return parser.release();
  }

  beast::error_code write_raw(const std::string& bytes) {
    return await([&](auto handler) { asio::async_write(m_stream, asio::buffer(bytes), handler); });
  }

  // Reads until the server closes the connection; the error that ended the read.
  beast::error_code read_until_closed(std::chrono::seconds limit) {
    std::string sink;
    auto buffer = asio::dynamic_buffer(sink);
    return await(
        [&](auto handler) { asio::async_read(m_stream, buffer, asio::transfer_all(), handler); },
        limit);
  }

private:
  template <typename Start> beast::error_code await(Start start, std::chrono::seconds limit = 10s) {
    std::optional<beast::error_code> result;
    m_io.restart();
    start([&](beast::error_code ec, std::size_t) { result = ec; });
    m_io.run_for(limit);
    REQUIRE(result.has_value()); // the operation completed in time
    return *result;
  }

  asio::io_context m_io;
  beast::tcp_stream m_stream;
  beast::flat_buffer m_buffer;
};

} // namespace

TEST_CASE("http: GET /healthz over a socket", "[http]") {
  TestServer server;
  server.start();
  REQUIRE(server.port() != 0);
  Client client(server.port());
  const auto res = client.request(http::verb::get, "/healthz");
  CHECK(res.result_int() == 200);
  CHECK(res[http::field::server] == "softpack-builder");
  CHECK(res[http::field::content_type] == "application/json");
  CHECK(res.body() == R"({"status":"ok"})");
}

TEST_CASE("http: a body over the limit is 413 and the connection is closed", "[http]") {
  TestServer server;
  server.start();
  Client client(server.port());
  const auto res =
      client.request(http::verb::post, "/environments/build", std::string(64 * 1024, 'x'));
  CHECK(res.result_int() == 413);
  CHECK_THAT(res.body(), Catch::Contains("\"error\"") && Catch::Contains("1024"));
  CHECK_FALSE(res.keep_alive());
  CHECK(client.read_until_closed(5s) == asio::error::eof);
  CHECK(server.service.submitted.empty());
}

TEST_CASE("http: Expect: 100-continue is answered before the body is sent", "[http]") {
  TestServer server;
  server.start();
  Client client(server.port());
  SECTION("a body within the limit") {
    REQUIRE_FALSE(client.write_raw("POST /environments/build HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n"));
    CHECK(client.read().result_int() == 100);
    REQUIRE_FALSE(client.write_raw("{}"));
    CHECK(client.read().result_int() == 400); // "{}" names no environment
  }
  SECTION("a body over the limit is refused without waiting for it") {
    REQUIRE_FALSE(client.write_raw("POST /environments/build HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   "Content-Length: 2000000\r\nExpect: 100-continue\r\n\r\n"));
    CHECK(client.read().result_int() == 413);
  }
}

TEST_CASE("http: keep-alive serves two requests on one connection", "[http]") {
  TestServer server;
  const std::string doc(100 * 1024, 'x');
  server.service.status_body = std::make_shared<const std::string>(doc);
  server.start();
  Client client(server.port());
  const auto first = client.request(http::verb::get, "/healthz");
  CHECK(first.result_int() == 200);
  CHECK(first.keep_alive());
  const auto second = client.request(http::verb::get, "/environments/status");
  CHECK(second.result_int() == 200);
  CHECK(second.body() == doc);
  CHECK(second[http::field::content_length] == std::to_string(doc.size()));

  SECTION("HEAD has the GET's length and no body") {
    const auto head = client.request(http::verb::head, "/environments/status");
    CHECK(head.result_int() == 200);
    CHECK(head[http::field::content_length] == std::to_string(doc.size()));
    CHECK(head.body().empty());
  }
  const auto third = client.request(http::verb::get, "/nowhere");
  CHECK(third.result_int() == 404);

  SECTION("Connection: close is honoured") {
    const auto last = client.request(http::verb::get, "/healthz", {}, false);
    CHECK_FALSE(last.keep_alive());
    CHECK(client.read_until_closed(5s) == asio::error::eof);
  }
}

TEST_CASE("http: a client that stalls mid-request is disconnected after the read timeout",
          "[http]") {
  ServerOptions options = TestServer::make_options();
  options.read_timeout = 1s;
  TestServer server(options);
  server.start();
  Client client(server.port());
  REQUIRE_FALSE(client.write_raw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  const auto began = std::chrono::steady_clock::now();
  const auto ec = client.read_until_closed(10s);
  const auto waited = std::chrono::steady_clock::now() - began;
  CHECK((ec == asio::error::eof || ec == asio::error::connection_reset));
  CHECK(waited >= 900ms);
  CHECK(waited < 5s);
}

TEST_CASE("http: a malformed request is 400 JSON", "[http]") {
  TestServer server;
  server.start();
  Client client(server.port());
  REQUIRE_FALSE(client.write_raw("GET /healthz HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n"));
  const auto res = client.read();
  CHECK(res.result_int() == 400);
  CHECK_THAT(res.body(), Catch::StartsWith("{\"error\":"));
}

TEST_CASE("http: headers over the limit are 431", "[http]") {
  TestServer server;
  server.start();
  Client client(server.port());
  REQUIRE_FALSE(client.write_raw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " +
                                 std::string(32 * 1024, 'a') + "\r\n\r\n"));
  CHECK(client.read().result_int() == 431);
}

TEST_CASE("http: stop() while idle ends io.run()", "[http]") {
  ServerOptions options = TestServer::make_options();
  options.read_timeout = 30s; // so that only stop() can end the idle connection in time
  TestServer server(options);
  server.start();

  SECTION("no connections") {
    CHECK(server.stop_and_wait(2000ms));
  }
  SECTION("an idle keep-alive connection") {
    Client client(server.port());
    CHECK(client.request(http::verb::get, "/healthz").result_int() == 200);
    CHECK(server.stop_and_wait(2000ms));
    CHECK(client.read_until_closed(2s) == asio::error::eof);
  }
  SECTION("new connections are refused after stop") {
    CHECK(server.stop_and_wait(2000ms));
    asio::io_context io;
    tcp::socket socket(io);
    beast::error_code ec;
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()), ec);
    CHECK(ec == asio::error::connection_refused);
  }
}

TEST_CASE("http: stop() lets a request in progress finish", "[http]") {
  ServerOptions options = TestServer::make_options();
  options.read_timeout = 30s;
  TestServer server(options);
  server.start();
  Client client(server.port());
  REQUIRE_FALSE(client.write_raw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  std::this_thread::sleep_for(100ms); // the server has the first bytes
  server.server().stop();
  std::this_thread::sleep_for(100ms);
  REQUIRE_FALSE(client.write_raw("\r\n"));
  const auto res = client.read();
  CHECK(res.result_int() == 200);
  CHECK_FALSE(res.keep_alive());
  CHECK(server.stop_and_wait(2000ms));
}

TEST_CASE("http: metrics count answers by status class", "[http]") {
  TestServer server;
  server.start();
  {
    Client client(server.port());
    client.request(http::verb::get, "/healthz");
    client.request(http::verb::get, "/healthz");
    client.request(http::verb::get, "/nowhere");
    const std::string text = server.server().metrics_text();
    CHECK_THAT(text, Catch::Contains("softpack_http_requests_total{code=\"2xx\"} 2\n"));
    CHECK_THAT(text, Catch::Contains("softpack_http_requests_total{code=\"4xx\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("softpack_http_requests_total{code=\"5xx\"} 0\n"));
    CHECK_THAT(text, Catch::Contains("softpack_http_connections 1\n"));
    CHECK_THAT(text, Catch::Contains("# TYPE softpack_http_requests_total counter"));
  }
}

TEST_CASE("http: start() names the address when it cannot bind", "[http]") {
  TestServer first;
  first.start();
  ServerOptions options = TestServer::make_options();
  options.port = first.port();
  asio::io_context io;
  FakeService svc;
  HttpServer second(io, svc, options);
  auto started = second.start();
  REQUIRE_FALSE(started);
  CHECK_THAT(started.error().describe(),
             Catch::Contains("127.0.0.1:" + std::to_string(first.port())));

  ServerOptions bad = TestServer::make_options();
  bad.address = "not-an-address";
  HttpServer third(io, svc, bad);
  REQUIRE_FALSE(third.start());
}
