// util/http_client: http_perform and http_request against tests/support/http_test_server, a
// real HTTP/1.1 server on 127.0.0.1 that records every request.

#include "support/http_test_server.hpp"
#include "support/temp_dir.hpp"
#include "util/http_client.hpp"

#include <chrono>
#include <future>
#include <string>

#include <catch2/catch.hpp>

using namespace softpack;
using softpack::testing::HttpTestServer;
using softpack::testing::split_multipart;
using softpack::testing::TempDir;
using softpack::testing::TestRequest;
using softpack::testing::TestResponse;
using namespace std::chrono_literals;

namespace {

TestResponse ok(std::string body = {}) {
  TestResponse r;
  r.body = std::move(body);
  return r;
}

// Every byte value, in a pattern that does not repeat within a pipe or curl buffer.
std::string binary_data(std::size_t size) {
  std::string data(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    data[i] = static_cast<char>((i * 7919 + i / 65536) & 0xff);
  }
  return data;
}

// A URL on 127.0.0.1 where nothing listens: a test server's port after it closed.
std::string closed_url() {
  HttpTestServer gone([](const TestRequest&) { return ok(); });
  return gone.url();
}

} // namespace

TEST_CASE("http client: status, headers and body of a response", "[http_client]") {
  HttpTestServer server([](const TestRequest& r) {
    TestResponse out;
    out.status = 201;
    out.headers = {{"X-Softpack-Test", "  padded value  "}, {"Content-Type", "text/plain"}};
    out.body = "created " + r.target;
    return out;
  });
  HttpRequest request;
  request.url = server.url() + "/things?x=1&y=two";
  request.headers = {{"X-Request-Id", "abc"}, {"Accept", "text/plain"}};
  const auto r = http_perform(request);
  REQUIRE(r.has_value());
  CHECK(r->status == 201);
  CHECK(r->body == "created /things?x=1&y=two");
  CHECK(r->header("x-softpack-test") == "padded value");
  CHECK(r->header("content-type") == "text/plain");
  CHECK(r->headers.count("Content-Type") == 0); // names are lowercased
  CHECK(r->header("x-missing").empty());

  const auto seen = server.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "GET");
  CHECK(seen[0].target == "/things?x=1&y=two");
  CHECK(seen[0].header("x-request-id") == "abc");
  CHECK(seen[0].header("accept") == "text/plain");
  CHECK(seen[0].header("authorization").empty());
  CHECK(seen[0].header("expect").empty());
  CHECK(seen[0].body.empty());
}

TEST_CASE("http client: any HTTP status is a response", "[http_client]") {
  TestResponse answer;
  HttpTestServer server([&answer](const TestRequest&) { return answer; });
  HttpRequest request;
  request.url = server.url() + "/x";

  SECTION("an error status, with a one-line summary of the body") {
    answer.status = 503;
    answer.body = "down\r\nfor maintenance\n";
    const auto r = http_perform(request);
    REQUIRE(r.has_value());
    CHECK(r->status == 503);
    CHECK(r->body == "down\r\nfor maintenance\n");
    CHECK(r->summary() == "HTTP 503: down  for maintenance ");
  }
  SECTION("a redirect is not followed") {
    answer.status = 302;
    answer.headers = {{"Location", "/elsewhere"}};
    const auto r = http_perform(request);
    REQUIRE(r.has_value());
    CHECK(r->status == 302);
    CHECK(r->header("location") == "/elsewhere");
    CHECK(server.requests().size() == 1);
  }
  SECTION("HEAD: the status and headers, no body") {
    answer.headers = {{"Docker-Content-Digest", "sha256:abc"}};
    answer.body = "not sent";
    request.method = "HEAD";
    const auto r = http_perform(request);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body.empty());
    CHECK(r->header("docker-content-digest") == "sha256:abc");
    REQUIRE(server.requests().size() == 1);
    CHECK(server.requests()[0].method == "HEAD");
  }
}

TEST_CASE("http client: a string body goes with its method and length", "[http_client]") {
  HttpTestServer server([](const TestRequest&) { return ok(); });
  HttpRequest request;
  request.url = server.url() + "/items";

  SECTION("POST") {
    request.method = "POST";
    request.body = std::string("{\"a\":1}\0tail", 12);
    request.headers = {{"Content-Type", "application/json"}};
    REQUIRE(http_perform(request).has_value());
    const auto seen = server.requests().at(0);
    CHECK(seen.method == "POST");
    CHECK(seen.body == request.body);
    CHECK(seen.header("content-length") == "12");
    CHECK(seen.header("content-type") == "application/json");
  }
  SECTION("PUT and PATCH with an empty body still send a length") {
    for (const char* method : {"PUT", "PATCH"}) {
      request.method = method;
      REQUIRE(http_perform(request).has_value());
    }
    const auto seen = server.requests();
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].method == "PUT");
    CHECK(seen[1].method == "PATCH");
    for (const auto& s : seen) {
      CHECK(s.header("content-length") == "0");
      CHECK(s.body.empty());
    }
  }
  SECTION("DELETE") {
    request.method = "DELETE";
    REQUIRE(http_perform(request).has_value());
    CHECK(server.requests().at(0).method == "DELETE");
  }
}

TEST_CASE("http client: a body file is streamed as it is", "[http_client]") {
  HttpTestServer server([](const TestRequest& r) { return ok(std::to_string(r.body.size())); });
  TempDir dir;
  const std::string data = binary_data(3u << 20);
  HttpRequest request;
  request.method = "PUT";
  request.url = server.url() + "/v2/repo/blobs/uploads/1?digest=sha256%3Aabc";
  request.body_file = dir.write("image.sif", data);
  request.body = "ignored: the file takes precedence";

  const auto r = http_perform(request);
  REQUIRE(r.has_value());
  CHECK(r->body == std::to_string(data.size()));
  const auto seen = server.requests().at(0);
  CHECK(seen.method == "PUT");
  CHECK(seen.target == "/v2/repo/blobs/uploads/1?digest=sha256%3Aabc");
  CHECK(seen.header("content-length") == std::to_string(data.size()));
  CHECK(seen.header("transfer-encoding").empty());
  CHECK(seen.header("expect").empty());
  CHECK(seen.body.size() == data.size());
  CHECK(seen.body == data);

  SECTION("with the request's method") {
    request.method = "POST";
    REQUIRE(http_perform(request).has_value());
    CHECK(server.requests().at(1).method == "POST");
    CHECK(server.requests().at(1).body == data);
  }
  SECTION("an empty file") {
    request.body_file = dir.write("empty", "");
    REQUIRE(http_perform(request).has_value());
    CHECK(server.requests().at(1).header("content-length") == "0");
    CHECK(server.requests().at(1).body.empty());
  }
  SECTION("a file that cannot be read is an io error, and nothing is sent") {
    request.body_file = dir / "missing.sif";
    const auto missing = http_perform(request);
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().kind == ErrorKind::io);
    CHECK(missing.error().context == "PUT " + request.url);
    CHECK_THAT(missing.error().message, Catch::Contains("missing.sif"));
    CHECK(server.requests().size() == 1);
  }
}

TEST_CASE("http client: multipart/form-data parts are streamed files", "[http_client]") {
  HttpTestServer server([](const TestRequest&) { return ok(); });
  TempDir dir;
  const std::string lock = "{\"roots\": []}\n";
  const std::string blob = binary_data(200000);
  HttpRequest request;
  request.method = "POST";
  request.url = server.url() + "/upload?users/alice/env-1";
  request.multipart = {{"file", dir.write("spack.lock", lock), ""},
                       {"file", dir.write("scratch.bin", blob), "builder.out"}};
  REQUIRE(http_perform(request).has_value());

  const auto seen = server.requests().at(0);
  CHECK(seen.method == "POST");
  const std::string type = seen.header("content-type");
  const std::string prefix = "multipart/form-data; boundary=";
  REQUIRE(type.starts_with(prefix));
  const auto parts = split_multipart(seen.body, type.substr(prefix.size()));
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].headers.at("content-disposition") ==
        "form-data; name=\"file\"; filename=\"spack.lock\"");
  CHECK(parts[0].headers.at("content-type") == "application/octet-stream");
  CHECK(parts[0].content == lock);
  CHECK(parts[1].headers.at("content-disposition") ==
        "form-data; name=\"file\"; filename=\"builder.out\"");
  CHECK(parts[1].content == blob);

  SECTION("a part that cannot be read is an io error, and nothing is sent") {
    request.multipart.push_back({"file", dir / "missing.lock", ""});
    const auto r = http_perform(request);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::io);
    CHECK(r.error().context == "POST " + request.url);
    CHECK_THAT(r.error().message, Catch::Contains("missing.lock"));
    CHECK(server.requests().size() == 1);
  }
}

TEST_CASE("http client: Basic authentication", "[http_client]") {
  HttpTestServer server([](const TestRequest&) { return ok(); });
  HttpRequest request;
  request.url = server.url() + "/token";
  request.username = "alice";
  request.password = "p@ss w:rd";
  REQUIRE(http_perform(request).has_value());
  const auto seen = server.requests().at(0);
  CHECK(seen.header("authorization") == "Basic YWxpY2U6cEBzcyB3OnJk"); // base64("alice:p@ss w:rd")
  CHECK(seen.target == "/token");

  SECTION("no credentials in an error") {
    request.url = closed_url() + "/token";
    const auto r = http_perform(request);
    REQUIRE_FALSE(r.has_value());
    const std::string described = r.error().describe();
    CHECK(described.find("p@ss") == std::string::npos);
    CHECK(described.find("alice") == std::string::npos);
  }
}

TEST_CASE("http client: network failures are transient errors naming the request",
          "[http_client]") {
  SECTION("connection refused") {
    const std::string url = closed_url() + "/environments/status";
    HttpRequest request;
    request.url = url;
    const auto start = std::chrono::steady_clock::now();
    const auto r = http_perform(request);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::transient);
    CHECK(r.error().context == "GET " + url);
    CHECK_THAT(r.error().message, Catch::Contains("connect"));
    CHECK(std::chrono::steady_clock::now() - start < 1s);
  }
  SECTION("no answer within the time limit") {
    // The handler holds the answer back until the client has given up.
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    HttpTestServer server([released](const TestRequest&) {
      released.wait_for(5s);
      return ok("too late");
    });
    HttpRequest request;
    request.method = "POST";
    request.url = server.url() + "/slow";
    request.body = "x";
    request.timeout = 1s;
    const auto start = std::chrono::steady_clock::now();
    const auto r = http_perform(request);
    const auto took = std::chrono::steady_clock::now() - start;
    release.set_value();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::transient);
    CHECK(r.error().context == "POST " + request.url);
    CHECK_THAT(r.error().message, Catch::Contains("Timeout"));
    CHECK(took >= 900ms);
    CHECK(took < 2s);
    CHECK(server.requests().size() == 1);
  }
}

TEST_CASE("http client: url_encode keeps RFC 3986 unreserved characters", "[http_client]") {
  CHECK(url_encode("AZaz09-_.~") == "AZaz09-_.~");
  CHECK(url_encode("users/alice env:1?&=+%") == "users%2Falice%20env%3A1%3F%26%3D%2B%25");
  CHECK(url_encode("\xc3\xa9") == "%C3%A9");
  CHECK(url_encode("").empty());
}
