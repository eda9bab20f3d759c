#include "server/api.hpp"
#include "support/fake_service.hpp"
#include "support/fixtures.hpp"
#include "support/response_json.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace softpack;
using softpack::testing::fixture;
using namespace softpack::server;
using softpack::testing::body_of;
using softpack::testing::error_of;
using softpack::testing::FakeService;
namespace json = boost::json;

namespace {

const std::string k_api_token = "api-secret";
const std::string k_gitlab_token = "gitlab-secret";

HandlerOptions options() {
  HandlerOptions o;
  o.api_token = k_api_token;
  o.gitlab_token = k_gitlab_token;
  o.max_body_bytes = 64 * 1024;
  return o;
}

Request request(std::string method, std::string target, std::string body = {}) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  return r;
}

Request authorized(Request r) {
  r.headers["Authorization"] = "Bearer " + k_api_token;
  return r;
}

// The documented Push Hook request: its headers from the fixture, then `body`.
Request push_hook(std::string body) {
  Request r = request("POST", "/webhooks/gitlab", std::move(body));
  std::istringstream headers(fixture("gitlab/push_documented_example.headers"));
  std::string line;
  while (std::getline(headers, line)) {
    const auto colon = line.find(": ");
    REQUIRE(colon != std::string::npos);
    r.headers[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return r;
}

std::string header_of(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) {
      return v;
    }
  }
  return "<none>";
}

const std::string k_request = R"({"name": "users/alice/my-env", "version": "1",
  "model": {"description": "d", "packages": [{"name": "xxhash", "version": "0.8.1"}]}})";

} // namespace

TEST_CASE("server: POST /environments/build submits and answers the build", "[server]") {
  FakeService svc;
  const Response r =
      handle(authorized(request("POST", "/environments/build", k_request)), svc, options());
  CHECK(r.status == 200);
  const json::object body = body_of(r);
  CHECK(body.at("id") == "b-1");
  CHECK(body.at("name") == "users/alice/my-env-1");
  CHECK(body.at("existing") == false);
  CHECK(body.at("message").is_string());
  REQUIRE(svc.submitted.size() == 1);
  CHECK(svc.submitted[0]->full_name() == "users/alice/my-env-1");
  CHECK(svc.submitted[0]->packages.at(0).to_spec() == "xxhash@0.8.1");

  SECTION("an existing build says so") {
    svc.submit_result = SubmitOutcome{"b-0", true, {}};
    const Response again =
        handle(authorized(request("POST", "/environments/build", k_request)), svc, options());
    CHECK(body_of(again).at("existing") == true);
    CHECK(body_of(again).at("id") == "b-0");
  }
  SECTION("another spec of a building environment is a conflict") {
    svc.submit_result =
        make_error(ErrorKind::conflict, "build already running for environment users/alice/x-1");
    const Response refused =
        handle(authorized(request("POST", "/environments/build", k_request)), svc, options());
    CHECK_THAT(error_of(refused, 409), Catch::Contains("build already running for environment"));
  }
}

TEST_CASE("server: POST /environments/build accepts softpack-core's recorded request", "[server]") {
  FakeService svc;
  const Response r = handle(authorized(request("POST", "/environments/build",
                                               fixture("spec/build_request_softpack_core.json"))),
                            svc, options());
  CHECK(r.status == 200);
  CHECK(body_of(r).at("name") == "users/alice/single-cell-1");
}

TEST_CASE("server: POST /environments/build with a bad package is 400", "[server]") {
  FakeService svc;
  SECTION("bad package name") {
    const Response r = handle(
        authorized(request(
            "POST", "/environments/build",
            R"({"name":"users/alice/x","version":"1","model":{"packages":[{"name":"a;b"}]}})")),
        svc, options());
    CHECK_THAT(error_of(r, 400), Catch::Contains("packages[0]"));
  }
  SECTION("not JSON") {
    const Response r =
        handle(authorized(request("POST", "/environments/build", "{not json")), svc, options());
    error_of(r, 400);
  }
  SECTION("empty body") {
    error_of(handle(authorized(request("POST", "/environments/build")), svc, options()), 400);
  }
  CHECK(svc.submitted.empty());
}

TEST_CASE("server: POST /environments/build maps service errors to 400, 503 and 500", "[server]") {
  FakeService svc;
  auto status_for = [&](ErrorKind kind) {
    svc.submit_result = make_error(kind, "it failed");
    const Response r =
        handle(authorized(request("POST", "/environments/build", k_request)), svc, options());
    CHECK_THAT(error_of(r, r.status), Catch::Contains("it failed"));
    return r.status;
  };
  CHECK(status_for(ErrorKind::invalid_input) == 400);
  CHECK(status_for(ErrorKind::transient) == 503);
  CHECK(status_for(ErrorKind::io) == 503);
  CHECK(status_for(ErrorKind::internal) == 500);
  CHECK(status_for(ErrorKind::command) == 500);
}

TEST_CASE("server: the bearer token guards mutating endpoints", "[server]") {
  FakeService svc;
  SECTION("missing") {
    const Response r = handle(request("POST", "/environments/build", k_request), svc, options());
    error_of(r, 401);
    CHECK(header_of(r, "WWW-Authenticate") == "Bearer");
    CHECK(svc.submitted.empty());
  }
  SECTION("wrong") {
    Request req = request("POST", "/environments/build", k_request);
    req.headers["Authorization"] = "Bearer api-secreT";
    error_of(handle(req, svc, options()), 401);
    CHECK(svc.submitted.empty());
  }
  SECTION("a prefix of the token") {
    Request req = request("POST", "/environments/build", k_request);
    req.headers["Authorization"] = "Bearer api";
    error_of(handle(req, svc, options()), 401);
  }
  SECTION("another scheme") {
    Request req = request("POST", "/environments/build", k_request);
    req.headers["Authorization"] = "Basic " + k_api_token;
    error_of(handle(req, svc, options()), 401);
  }
  SECTION("scheme and header name are case-insensitive") {
    Request req = request("POST", "/environments/build", k_request);
    req.headers["authorization"] = "bearer  " + k_api_token;
    CHECK(handle(req, svc, options()).status == 200);
  }
  SECTION("DELETE needs it too") {
    error_of(handle(request("DELETE", "/builds/b-1"), svc, options()), 401);
    CHECK(svc.cancelled.empty());
  }
  SECTION("no token configured: none required") {
    HandlerOptions open = options();
    open.api_token.clear();
    CHECK(handle(request("POST", "/environments/build", k_request), svc, open).status == 200);
  }
  SECTION("reads need none") {
    CHECK(handle(request("GET", "/builds"), svc, options()).status == 200);
  }
}

TEST_CASE("server: softpack-core's addresses build without a token", "[server]") {
  FakeService svc;
  HandlerOptions o = options();
  o.core_clients = {*softpack::parse_ip_network("10.1.0.0/16"), *softpack::parse_ip_network("::1")};
  auto from = [](std::string peer, std::string method, std::string target, std::string body = {}) {
    Request r = request(std::move(method), std::move(target), std::move(body));
    r.peer = std::move(peer);
    return r;
  };
  // As core sends it: no Authorization header at all.
  CHECK(handle(from("10.1.2.3", "POST", "/environments/build", k_request), svc, o).status == 200);
  CHECK(handle(from("::1", "POST", "/environments/build", k_request), svc, o).status == 200);
  // An IPv6 socket reports an IPv4 client as IPv4-mapped.
  CHECK(handle(from("::ffff:10.1.0.9", "POST", "/environments/build", k_request), svc, o).status ==
        200);
  CHECK(svc.submitted.size() == 3);
  CHECK(handle(from("10.1.2.3", "GET", "/environments/status"), svc, o).status == 200);

  SECTION("other addresses, and unknown peers, need the token") {
    error_of(handle(from("10.2.0.1", "POST", "/environments/build", k_request), svc, o), 401);
    error_of(handle(from("127.0.0.1", "POST", "/environments/build", k_request), svc, o), 401);
    error_of(handle(from("", "POST", "/environments/build", k_request), svc, o), 401);
    CHECK(svc.submitted.size() == 3);
  }
  SECTION("every other mutating route needs the token, also from core's addresses") {
    error_of(handle(from("10.1.2.3", "DELETE", "/builds/b-1"), svc, o), 401);
    CHECK(svc.cancelled.empty());
  }
  SECTION("a request through a proxy (forwarding headers) needs the token") {
    for (const char* name : {"Forwarded", "X-Forwarded-For", "X-Real-IP"}) {
      Request r = from("10.1.2.3", "POST", "/environments/build", k_request);
      r.headers[name] = "192.0.2.7";
      error_of(handle(r, svc, o), 401);
    }
  }
  SECTION("a token that is given is checked") {
    Request r = from("10.1.2.3", "POST", "/environments/build", k_request);
    r.headers["Authorization"] = "Bearer wrong";
    error_of(handle(r, svc, o), 401);
  }
}

TEST_CASE("server: GET /environments/status serves the service's shared document", "[server]") {
  FakeService svc;
  svc.status_body = std::make_shared<const std::string>(R"([{"Name":"users/a/b-1"}])");
  const Response r = handle(request("GET", "/environments/status"), svc, options());
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/json");
  CHECK(r.shared_body.get() == svc.status_body.get()); // not copied
  CHECK(r.payload() == R"([{"Name":"users/a/b-1"}])");

  SECTION("query strings are ignored and one trailing slash is tolerated") {
    CHECK(handle(request("GET", "/environments/status?x=1"), svc, options()).shared_body ==
          svc.status_body);
    CHECK(handle(request("GET", "/environments/status/"), svc, options()).shared_body ==
          svc.status_body);
    error_of(handle(request("GET", "/environments/status//"), svc, options()), 404);
  }
  SECTION("HEAD is answered like GET") {
    CHECK(handle(request("HEAD", "/environments/status"), svc, options()).status == 200);
  }
}

TEST_CASE("server: GET /builds and /builds/{id}", "[server]") {
  FakeService svc;
  svc.builds_body = std::make_shared<const std::string>(R"([{"id":"b-1"}])");
  svc.build_bodies["b-1"] = R"({"id":"b-1","state":"running"})";

  const Response all = handle(request("GET", "/builds"), svc, options());
  CHECK(all.status == 200);
  CHECK(all.shared_body == svc.builds_body);

  const Response one = handle(request("GET", "/builds/b-1"), svc, options());
  CHECK(one.status == 200);
  CHECK(one.payload() == R"({"id":"b-1","state":"running"})");
  CHECK(handle(request("GET", "/builds/b-1/"), svc, options()).status == 200);

  CHECK_THAT(error_of(handle(request("GET", "/builds/b-2"), svc, options()), 404),
             Catch::Contains("b-2"));
  SECTION("ids with other characters are not routed") {
    for (const char* target : {"/builds/b_1", "/builds/b.1", "/builds/..", "/builds/b%2D1",
                               "/builds/b-1/stages", "/builds//b-1", "/builds/%00"}) {
      INFO(target);
      error_of(handle(request("GET", target), svc, options()), 404);
    }
  }
}

TEST_CASE("server: DELETE /builds/{id} cancels", "[server]") {
  FakeService svc;
  auto del = [&] { return handle(authorized(request("DELETE", "/builds/b-7")), svc, options()); };
  SECTION("cancelled") {
    const Response r = del();
    CHECK(r.status == 200);
    CHECK(body_of(r).at("id") == "b-7");
    CHECK(body_of(r).at("cancelled") == true);
    CHECK(svc.cancelled == std::vector<std::string>{"b-7"});
  }
  SECTION("no such build") {
    svc.cancel_result = false;
    error_of(del(), 404);
  }
  SECTION("already finished") {
    svc.cancel_result = make_error(ErrorKind::invalid_input, "build b-7 has finished");
    CHECK_THAT(error_of(del(), 409), Catch::Contains("finished"));
  }
  SECTION("the scheduler failed") {
    svc.cancel_result = make_error(ErrorKind::command, "scancel failed");
    error_of(del(), 500);
  }
  SECTION("a bad id is not routed") {
    error_of(handle(authorized(request("DELETE", "/builds/a;b")), svc, options()), 404);
    CHECK(svc.cancelled.empty());
  }
}

TEST_CASE("server: GET /healthz", "[server]") {
  FakeService svc;
  const Response ok = handle(request("GET", "/healthz"), svc, options());
  CHECK(ok.status == 200);
  CHECK(body_of(ok).at("status") == "ok");

  svc.is_healthy = false;
  svc.health_detail = "store: disk I/O error";
  const Response bad = handle(request("GET", "/healthz"), svc, options());
  CHECK(bad.status == 503);
  CHECK(body_of(bad).at("status") == "unhealthy");
  CHECK(body_of(bad).at("detail") == "store: disk I/O error");
}

TEST_CASE("server: GET /metrics is Prometheus text", "[server]") {
  FakeService svc;
  const Response r = handle(request("GET", "/metrics"), svc, options());
  CHECK(r.status == 200);
  CHECK_THAT(r.content_type, Catch::StartsWith("text/plain; version=0.0.4"));
  CHECK(r.payload() == svc.metrics);
}

TEST_CASE("server: unknown routes are 404 and wrong methods 405 with Allow", "[server]") {
  FakeService svc;
  for (const char* target : {"/", "/nowhere", "/environments", "/environments/build/x", "/BUILDS",
                             "builds", "", "/webhooks/github"}) {
    INFO(target);
    error_of(handle(request("GET", target), svc, options()), 404);
  }
  struct Case {
    const char* method;
    const char* target;
    const char* allow;
  };
  for (const Case& c :
       {Case{"GET", "/environments/build", "POST"},
        Case{"PUT", "/environments/status", "GET, HEAD"}, Case{"POST", "/builds", "GET, HEAD"},
        Case{"PATCH", "/builds/b-1", "GET, HEAD, DELETE"}, Case{"POST", "/healthz", "GET, HEAD"},
        Case{"DELETE", "/metrics", "GET, HEAD"}, Case{"GET", "/webhooks/gitlab", "POST"}}) {
    INFO(c.method << " " << c.target);
    const Response r = handle(request(c.method, c.target), svc, options());
    error_of(r, 405);
    CHECK(header_of(r, "Allow") == c.allow);
  }
  CHECK(svc.submitted.empty());
}

TEST_CASE("server: a body over the limit is 413", "[server]") {
  FakeService svc;
  HandlerOptions o = options();
  o.max_body_bytes = 100;
  const Response r =
      handle(authorized(request("POST", "/environments/build", std::string(101, ' '))), svc, o);
  CHECK_THAT(error_of(r, 413), Catch::Contains("100"));
  CHECK(svc.submitted.empty());
  // At the limit it is read (and here refused as JSON).
  error_of(
      handle(authorized(request("POST", "/environments/build", std::string(100, ' '))), svc, o),
      400);
}

TEST_CASE("server: an exception in the service is a 500 JSON error", "[server]") {
  FakeService svc;
  svc.throw_on_status = true;
  const Response r = handle(request("GET", "/environments/status"), svc, options());
  error_of(r, 500);
}

TEST_CASE("server: error bodies are valid JSON whatever the message holds", "[server]") {
  for (const std::string& message :
       {std::string("plain"), std::string("quote \" backslash \\ newline \n tab \t"),
        std::string("nul \0 byte", 10), std::string("bad utf-8 \xff\xc3("),
        std::string("ok utf-8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
        std::string("surrogate \xed\xa0\x80 overlong \xc0\xaf")}) {
    INFO(message);
    boost::system::error_code ec;
    const json::value v = json::parse(error_json(message), ec);
    REQUIRE_FALSE(ec);
    REQUIRE(v.at("error").is_string());
  }
  boost::system::error_code ec;
  CHECK(json::parse(error_json("a\"b"), ec).at("error") == "a\"b");
  CHECK(json::parse(error_json("caf\xc3\xa9"), ec).at("error") == "caf\xc3\xa9");
  CHECK(json::parse(error_json("x\xffy"), ec).at("error") == "x\xef\xbf\xbdy");
}

TEST_CASE("server: constant_time_equal", "[server]") {
  CHECK(constant_time_equal("", ""));
  CHECK(constant_time_equal("secret", "secret"));
  CHECK_FALSE(constant_time_equal("secret", "secreT"));
  CHECK_FALSE(constant_time_equal("Secret", "secret"));
  CHECK_FALSE(constant_time_equal("secret", "secret2"));
  CHECK_FALSE(constant_time_equal("secret2", "secret"));
  CHECK_FALSE(constant_time_equal("", "secret"));
  CHECK_FALSE(constant_time_equal("secret", ""));
  CHECK_FALSE(constant_time_equal("abcabc", "abc")); // not fooled by wrapping around
  CHECK_FALSE(constant_time_equal(std::string_view("a\0", 2), "a"));
}

TEST_CASE("server: POST /webhooks/gitlab with the documented Push Hook", "[server][gitlab]") {
  FakeService svc;
  const Response r =
      handle(push_hook(fixture("gitlab/push_environment_added.json")), svc, options());
  CHECK(r.status == 202);
  const json::object body = body_of(r);
  CHECK(body.at("queued") == true);
  CHECK(body.at("message") == "push to refs/heads/main queued");
  REQUIRE(svc.pushes.size() == 1);
  CHECK(svc.pushes[0].first == "f5e5f430-f57b-4e6e-9fac-d9128cd7232f");
  CHECK(svc.pushes[0].second.project_path == "hgi/softpack-artifacts");
  CHECK(svc.pushes[0].second.commits.size() == 1);
}

TEST_CASE("server: a webhook delivery is named by its Idempotency-Key, else its event UUID; "
          "duplicates are the service's job",
          "[server][gitlab]") {
  FakeService svc;
  const std::string body = fixture("gitlab/push_documented_example.json");
  CHECK(handle(push_hook(body), svc, options()).status == 202);
  CHECK(handle(push_hook(body), svc, options()).status == 202);
  // GitLab before 17.4 sends no Idempotency-Key.
  Request old_gitlab = push_hook(body);
  old_gitlab.headers.erase("Idempotency-Key");
  CHECK(handle(old_gitlab, svc, options()).status == 202);
  Request neither = old_gitlab;
  neither.headers.erase("X-Gitlab-Event-UUID");
  CHECK(handle(neither, svc, options()).status == 202);
  REQUIRE(svc.pushes.size() == 4);
  CHECK(svc.pushes[0].first == "f5e5f430-f57b-4e6e-9fac-d9128cd7232f");
  CHECK(svc.pushes[1].first == "f5e5f430-f57b-4e6e-9fac-d9128cd7232f");
  CHECK(svc.pushes[2].first == "13792a34-cac6-4fda-95a8-c58e00a3954e");
  CHECK(svc.pushes[3].first.empty());
}

TEST_CASE("server: webhook with a wrong or missing token is 401 and the service is not called",
          "[server][gitlab]") {
  FakeService svc;
  Request r = push_hook(fixture("gitlab/push_environment_added.json"));
  SECTION("wrong") {
    r.headers["X-Gitlab-Token"] = "gitlab-secreT";
  }
  SECTION("missing") {
    r.headers.erase("X-Gitlab-Token");
  }
  SECTION("the API token instead") {
    r.headers["X-Gitlab-Token"] = k_api_token;
  }
  error_of(handle(r, svc, options()), 401);
  CHECK(svc.pushes.empty());
}

TEST_CASE("server: webhook events other than Push Hook are accepted and ignored",
          "[server][gitlab]") {
  FakeService svc;
  SECTION("a tag push") {
    Request r = push_hook(fixture("gitlab/tag_push_documented_example.json"));
    r.headers["X-Gitlab-Event"] = "Tag Push Hook";
    const Response resp = handle(r, svc, options());
    CHECK(resp.status == 202);
    CHECK(body_of(resp).at("ignored") == "Tag Push Hook");
  }
  SECTION("the event header missing") {
    Request r = push_hook(fixture("gitlab/push_documented_example.json"));
    r.headers.erase("X-Gitlab-Event");
    const Response resp = handle(r, svc, options());
    CHECK(resp.status == 202);
    CHECK(body_of(resp).at("ignored") == "");
  }
  SECTION("an event name that is not UTF-8") {
    Request r = push_hook("{}");
    r.headers["X-Gitlab-Event"] = "Push\xff";
    CHECK(handle(r, svc, options()).status == 202);
  }
  CHECK(svc.pushes.empty());
}

TEST_CASE("server: webhook with a bad payload is 400", "[server][gitlab]") {
  FakeService svc;
  SECTION("not JSON") {
    CHECK_THAT(error_of(handle(push_hook("{"), svc, options()), 400),
               Catch::Contains("not valid JSON"));
  }
  SECTION("a tag push sent as a Push Hook") {
    CHECK_THAT(error_of(handle(push_hook(fixture("gitlab/tag_push_documented_example.json")), svc,
                               options()),
                        400),
               Catch::Contains("object_kind"));
  }
  CHECK(svc.pushes.empty());
}

TEST_CASE("server: webhook errors from the service", "[server][gitlab]") {
  FakeService svc;
  svc.push_result = make_error(ErrorKind::io, "store: database is locked");
  error_of(handle(push_hook(fixture("gitlab/push_documented_example.json")), svc, options()), 503);
}

TEST_CASE("server: the webhook is 404 when no GitLab token is configured", "[server][gitlab]") {
  FakeService svc;
  HandlerOptions o = options();
  o.gitlab_token.clear();
  Request r = push_hook(fixture("gitlab/push_documented_example.json"));
  r.headers["X-Gitlab-Token"] = "";
  error_of(handle(r, svc, o), 404);
  CHECK(svc.pushes.empty());
}

TEST_CASE("server: header names are case-insensitive", "[server]") {
  CaseInsensitiveLess less;
  CHECK_FALSE(less("X-Gitlab-Token", "x-gitlab-token"));
  CHECK_FALSE(less("x-gitlab-token", "X-GITLAB-TOKEN"));
  CHECK(less("a", "B"));
  CHECK(less("A", "b"));
  CHECK(less("ab", "abc"));
}
