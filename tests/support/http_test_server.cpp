#include "support/http_test_server.hpp"

#include "util/text.hpp"

#include <cctype>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace softpack::testing {

using softpack::to_lower;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string TestRequest::header(const std::string& lowercase_name) const {
  const auto it = headers.find(lowercase_name);
  return it == headers.end() ? std::string() : it->second;
}

struct HttpTestServer::Impl {
  explicit Impl(Handler h) : handler(std::move(h)), acceptor(io) {}

  Handler handler;
  asio::io_context io;
  tcp::acceptor acceptor;
  std::thread thread;
  mutable std::mutex mutex;
  std::vector<TestRequest> requests;

  struct Connection : std::enable_shared_from_this<Connection> {
    Connection(Impl& impl, tcp::socket s) : impl(impl), socket(std::move(s)) {}
    Impl& impl;
    tcp::socket socket;
    beast::flat_buffer buffer;
    std::unique_ptr<http::request_parser<http::string_body>> parser;
    http::response<http::string_body> response;

    void read() {
      parser = std::make_unique<http::request_parser<http::string_body>>();
      parser->body_limit(256u << 20);
      http::async_read(socket, buffer, *parser,
                       [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         if (!ec) {
                           self->answer();
                         }
                       });
    }

    void answer() {
      const auto& req = parser->get();
      TestRequest r;
      r.method = std::string(req.method_string());
      r.target = std::string(req.target());
      for (const auto& f : req) {
        r.headers[to_lower(std::string(f.name_string()))] = std::string(f.value());
      }
      r.body = req.body();
      {
        std::lock_guard lock(impl.mutex);
        impl.requests.push_back(r);
      }
      const TestResponse out = impl.handler(r);
      response = {};
      response.result(static_cast<unsigned>(out.status));
      response.version(11);
      for (const auto& [k, v] : out.headers) {
        response.set(k, v);
      }
      if (r.method != "HEAD") {
        response.body() = out.body;
        response.prepare_payload();
      } else if (out.headers.find("Content-Length") == out.headers.end()) {
        response.content_length(0);
      }
      response.keep_alive(req.keep_alive());
      http::async_write(socket, response,
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                          if (!ec && self->response.keep_alive()) {
                            self->read();
                          }
                        });
    }
  };

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        return;
      }
      std::make_shared<Connection>(*this, std::move(socket))->read();
      accept();
    });
  }
};

HttpTestServer::HttpTestServer(Handler handler)
    : m_impl(std::make_unique<Impl>(std::move(handler))) {
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  m_impl->acceptor.open(endpoint.protocol());
  m_impl->acceptor.set_option(asio::socket_base::reuse_address(true));
  m_impl->acceptor.bind(endpoint);
  m_impl->acceptor.listen();
  m_impl->accept();
  m_impl->thread = std::thread([impl = m_impl.get()] { impl->io.run(); });
}

HttpTestServer::~HttpTestServer() {
  m_impl->io.stop();
  m_impl->thread.join();
}

std::string HttpTestServer::url() const {
  return "http://127.0.0.1:" + std::to_string(m_impl->acceptor.local_endpoint().port());
}

std::vector<TestRequest> HttpTestServer::requests() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->requests;
}

std::vector<MultipartPart> split_multipart(const std::string& body, const std::string& boundary) {
  std::vector<MultipartPart> parts;
  const std::string delimiter = "--" + boundary;
  std::size_t pos = body.find(delimiter);
  if (pos != 0) {
    return {};
  }
  while (true) {
    pos += delimiter.size();
    if (body.compare(pos, 2, "--") == 0) {
      return parts; // the closing delimiter
    }
    if (body.compare(pos, 2, "\r\n") != 0) {
      return {};
    }
    pos += 2;
    const auto header_end = body.find("\r\n\r\n", pos);
    const auto next = body.find("\r\n" + delimiter, pos);
    if (header_end == std::string::npos || next == std::string::npos || header_end > next) {
      return {};
    }
    MultipartPart part;
    std::size_t line = pos;
    while (line < header_end) {
      const auto eol = body.find("\r\n", line);
      const std::string h = body.substr(line, eol - line);
      const auto colon = h.find(':');
      if (colon != std::string::npos) {
        std::string value = h.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') {
          value.erase(0, 1);
        }
        part.headers[to_lower(h.substr(0, colon))] = value;
      }
      line = eol + 2;
    }
    part.content = body.substr(header_end + 4, next - header_end - 4);
    parts.push_back(std::move(part));
    pos = next + 2;
  }
}

} // namespace softpack::testing
