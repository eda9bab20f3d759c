// How sp-submit and `softpack-builder status/cancel` send requests (cli::ServiceClient): the
// JSON body, the token when there is one. Identity over the socket and MUNGE:
// test_server_http_identity.cpp.

#include "cli/service_client.hpp"
#include "support/http_test_server.hpp"

#include <string>

#include <catch2/catch.hpp>

using namespace softpack;
using softpack::testing::HttpTestServer;
using softpack::testing::TestRequest;
using softpack::testing::TestResponse;

TEST_CASE("service client: a JSON body and the token", "[cli]") {
  HttpTestServer server([](const TestRequest& r) {
    TestResponse out;
    out.body = "echo " + r.body;
    return out;
  });
  cli::ServiceClient client(server.url() + "/", "t", config::Config{});
  CHECK(client.identified_by() == "token");
  const auto r = client.request("POST", "/environments/build", "{\"name\":\"x\"}");
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "echo {\"name\":\"x\"}");
  const auto seen = server.requests().at(0);
  CHECK(seen.method == "POST");
  CHECK(seen.target == "/environments/build"); // the URL's trailing slash is not doubled
  CHECK(seen.header("content-type") == "application/json");
  CHECK(seen.header("authorization") == "Bearer t");

  SECTION("no body: no content type") {
    REQUIRE(client.request("GET", "/environments/status").has_value());
    CHECK(server.requests().at(1).method == "GET");
    CHECK(server.requests().at(1).header("content-type").empty());
  }
}
