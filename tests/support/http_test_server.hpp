#pragma once

// A small HTTP/1.1 server for tests, on 127.0.0.1 and a free port, run by its own thread: every
// request is recorded whole (method, target, headers, body) and answered by the test's handler.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace softpack::testing {

struct TestRequest {
  std::string method;
  std::string target;                         // path and query, as sent
  std::map<std::string, std::string> headers; // names lowercased
  std::string body;

  std::string header(const std::string& lowercase_name) const;
};

struct TestResponse {
  int status = 200;
  std::map<std::string, std::string> headers;
  std::string body;
};

class HttpTestServer {
public:
  using Handler = std::function<TestResponse(const TestRequest&)>;
  explicit HttpTestServer(Handler handler);
  ~HttpTestServer();
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  std::string url() const; // "http://127.0.0.1:<port>"
  std::vector<TestRequest> requests() const;

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// The parts of a multipart/form-data body, split at `boundary` (from the Content-Type header):
// each part's headers (names lowercased) and its content. Empty when the body is malformed.
struct MultipartPart {
  std::map<std::string, std::string> headers;
  std::string content;
};
std::vector<MultipartPart> split_multipart(const std::string& body, const std::string& boundary);

} // namespace softpack::testing
