// The handler with identity on (server.socket / server.munge): who may do what, what is refused
// and how, what is recorded and audited. The listener's part (resolving a socket peer or a MUNGE
// credential to request.principal) is in test_server_http.cpp.

#include "server/api.hpp"
#include "support/fake_service.hpp"
#include "support/response_json.hpp"

#include <string>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace softpack;
using namespace softpack::server;
using softpack::testing::body_of;
using softpack::testing::error_of;
using softpack::testing::FakeService;
namespace json = boost::json;

namespace {

const std::string k_ci_secret = "ci-secret-value";

auth::Principal user(std::string login, std::uint32_t uid, std::vector<std::string> groups) {
  auth::Principal p;
  p.who = auth::Requester{auth::Requester::Kind::user, std::move(login), uid};
  p.groups = std::move(groups);
  p.via = "munge";
  return p;
}

const auth::Principal k_alice = user("alice", 1001, {"alice", "hgi"});
const auth::Principal k_bob = user("bob", 1002, {"bob"});
const auth::Principal k_carol = user("carol", 1003, {"carol", "softpack-admins"});

HandlerOptions identity_options() {
  HandlerOptions o;
  o.identity = true;
  o.munge = true;
  o.socket_path = "/run/softpack-builder/api.sock";
  o.tokens = {NamedToken{"ci", k_ci_secret, {"build", "read"}}};
  o.policy.admin_groups = {"softpack-admins"};
  o.core_clients = {*parse_ip_network("10.1.0.0/16")};
  return o;
}

std::string build_request(const std::string& path) {
  return R"({"name": ")" + path +
         R"(/my-env", "version": "1", "model": {"description": "d", "packages": [{"name": "xxhash"}]}})";
}

Request post(const std::string& path, std::optional<auth::Principal> who) {
  Request r;
  r.method = "POST";
  r.target = "/environments/build";
  r.body = build_request(path);
  r.peer = "192.0.2.10";
  r.principal = std::move(who);
  return r;
}

Request make(std::string method, std::string target, std::optional<auth::Principal> who) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.peer = "192.0.2.10";
  r.principal = std::move(who);
  return r;
}

std::vector<std::string> headers_named(const Response& r, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& [k, v] : r.headers) {
    if (k == name) {
      out.push_back(v);
    }
  }
  return out;
}

} // namespace

TEST_CASE("identity: a request without a credential is 401, reads included; health is open",
          "[server][identity]") {
  FakeService svc;
  const auto o = identity_options();
  for (const auto& [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"POST", "/environments/build"},
                                                        {"GET", "/builds"},
                                                        {"GET", "/builds/b-1"},
                                                        {"GET", "/environments/status"},
                                                        {"DELETE", "/builds/b-1"}}) {
    INFO(method << " " << target);
    Request r = make(method, target, std::nullopt);
    r.body = method == "POST" ? build_request("users/alice") : "";
    const Response answer = handle(r, svc, o);
    CHECK_THAT(error_of(answer, 401), Catch::Contains("no credential"));
    CHECK(headers_named(answer, "WWW-Authenticate") == std::vector<std::string>{"MUNGE", "Bearer"});
    // Every denial is logged, reads included.
    CHECK_THAT(answer.audit,
               Catch::StartsWith(method + " ") &&
                   Catch::Contains("by - via=none peer=192.0.2.10 -> 401 no credential"));
  }
  CHECK(svc.submitted.empty());
  CHECK(svc.cancelled.empty());
  CHECK(handle(make("GET", "/healthz", std::nullopt), svc, o).status == 200);
  CHECK(handle(make("GET", "/metrics", std::nullopt), svc, o).status == 200);
}

TEST_CASE("identity: a user builds in their own space, attributed and audited",
          "[server][identity]") {
  FakeService svc;
  const Response r = handle(post("users/alice", k_alice), svc, identity_options());
  REQUIRE(r.status == 200);
  const auto body = body_of(r);
  CHECK(body.at("requested_by").at("kind") == "user");
  CHECK(body.at("requested_by").at("name") == "alice");
  CHECK(body.at("requested_by").at("uid") == 1001);
  REQUIRE(svc.requesters.size() == 1);
  CHECK(svc.requesters[0] == k_alice.who);
  CHECK(r.audit == "POST /environments/build users/alice/my-env-1 by alice uid=1001 via=munge "
                   "peer=192.0.2.10 -> 200 build=b-1");
}

TEST_CASE("identity: another user's space and a group one is not in are 403 with the reason",
          "[server][identity]") {
  FakeService svc;
  const auto o = identity_options();
  SECTION("another user") {
    const Response r = handle(post("users/bob", k_alice), svc, o);
    CHECK_THAT(error_of(r, 403), Catch::Contains("users/bob"));
    CHECK_THAT(r.audit, Catch::Contains("users/bob/my-env-1 by alice uid=1001") &&
                            Catch::Contains("-> 403"));
  }
  SECTION("a group one is not in") {
    CHECK(error_of(handle(post("groups/hgi", k_bob), svc, o), 403) == "bob is not in group hgi");
  }
  CHECK(svc.submitted.empty());
  SECTION("a member of the group is admitted") {
    CHECK(handle(post("groups/hgi", k_alice), svc, o).status == 200);
    CHECK(svc.submitted.size() == 1);
  }
  SECTION("an admin (by group) may build anywhere") {
    CHECK(handle(post("users/bob", k_carol), svc, o).status == 200);
    CHECK(handle(post("groups/hgi", k_carol), svc, o).status == 200);
  }
  SECTION("an admin by name") {
    auto admins = o;
    admins.policy.admin_users = {"bob"};
    CHECK(handle(post("users/alice", k_bob), svc, admins).status == 200);
  }
}

TEST_CASE("identity: the listener's verdict on a credential is the answer", "[server][identity]") {
  FakeService svc;
  Request r = post("users/alice", std::nullopt);
  r.headers["Authorization"] = "MUNGE MUNGE:AAAA:";
  SECTION("refused credential: 401") {
    r.auth_failure = auth::AuthFailure{401, "MUNGE credential already used"};
    const Response a = handle(r, svc, identity_options());
    CHECK(error_of(a, 401) == "MUNGE credential already used");
    CHECK_THAT(a.audit, Catch::Contains("by - via=none") && Catch::Contains("-> 401"));
    CHECK_THAT(a.audit, !Catch::Contains("MUNGE:AAAA"));
  }
  SECTION("munged unreachable: 503") {
    r.auth_failure = auth::AuthFailure{503, "cannot check MUNGE credentials: socket"};
    error_of(handle(r, svc, identity_options()), 503);
  }
  CHECK(svc.submitted.empty());
}

TEST_CASE("identity: named tokens do what their routes allow", "[server][identity]") {
  FakeService svc;
  svc.owners["b-1"] = BuildOwner{"users/alice", k_alice.who};
  const auto o = identity_options();
  Request r = post("users/bob", std::nullopt);
  r.headers["Authorization"] = "Bearer " + k_ci_secret;
  const Response built = handle(r, svc, o);
  REQUIRE(built.status == 200);
  CHECK(body_of(built).at("requested_by").at("name") == "ci");
  CHECK(body_of(built).at("requested_by").at("kind") == "token");
  CHECK(svc.requesters.at(0).display() == "token ci");
  CHECK_THAT(built.audit, Catch::Contains("by token ci via=token"));
  CHECK_THAT(built.audit, !Catch::Contains(k_ci_secret));

  Request cancel = make("DELETE", "/builds/b-1", std::nullopt);
  cancel.headers["Authorization"] = "Bearer " + k_ci_secret;
  CHECK(error_of(handle(cancel, svc, o), 403) == "token ci may not cancel");
  CHECK(svc.cancelled.empty());

  Request read = make("GET", "/builds", std::nullopt);
  read.headers["Authorization"] = "Bearer " + k_ci_secret;
  CHECK(handle(read, svc, o).status == 200);

  Request wrong = post("users/bob", std::nullopt);
  wrong.headers["Authorization"] = "Bearer not-the-secret";
  CHECK(error_of(handle(wrong, svc, o), 401) == "invalid bearer token");
}

TEST_CASE("identity: cancelling follows the build's space", "[server][identity]") {
  FakeService svc;
  svc.owners["b-1"] = BuildOwner{"users/alice", k_alice.who};
  svc.owners["b-2"] = BuildOwner{"groups/hgi", k_bob.who};
  const auto o = identity_options();
  CHECK_THAT(error_of(handle(make("DELETE", "/builds/b-1", k_bob), svc, o), 403),
             Catch::Contains("users/alice"));
  CHECK(svc.cancelled.empty());
  const Response ok = handle(make("DELETE", "/builds/b-1", k_alice), svc, o);
  CHECK(ok.status == 200);
  CHECK(ok.audit == "DELETE /builds/b-1 users/alice build=b-1 by alice uid=1001 via=munge "
                    "peer=192.0.2.10 -> 200");
  // A group's build: any member may cancel it, whoever started it.
  CHECK(handle(make("DELETE", "/builds/b-2", k_alice), svc, o).status == 200);
  CHECK(svc.cancelled == std::vector<std::string>{"b-1", "b-2"});
  svc.default_owner.reset();
  error_of(handle(make("DELETE", "/builds/b-9", k_alice), svc, o), 404);
}

TEST_CASE("identity: softpack-core by its address builds and reads; loopback is nobody",
          "[server][identity]") {
  FakeService svc;
  const auto o = identity_options();
  Request r = post("users/alice", std::nullopt);
  r.peer = "10.1.4.5";
  const Response built = handle(r, svc, o);
  REQUIRE(built.status == 200);
  CHECK(body_of(built).at("requested_by").at("kind") == "core");
  CHECK(svc.requesters.at(0) ==
        auth::Requester{auth::Requester::Kind::core, "10.1.4.5", std::nullopt});
  Request status = make("GET", "/environments/status", std::nullopt);
  status.peer = "10.1.4.5";
  CHECK(handle(status, svc, o).status == 200);
  Request local = post("users/alice", std::nullopt);
  local.peer = "127.0.0.1";
  error_of(handle(local, svc, o), 401);
  // The Unix socket is never softpack-core, whatever its (empty) address.
  auto all = o;
  all.core_clients = {*parse_ip_network("0.0.0.0/0")};
  Request sock = post("users/alice", std::nullopt);
  sock.peer.clear();
  sock.unix_socket = true;
  error_of(handle(sock, svc, all), 401);
}

TEST_CASE("identity: a user over server.user_rate_limit gets 429 with Retry-After",
          "[server][identity]") {
  FakeService svc;
  auto o = identity_options();
  static std::chrono::steady_clock::time_point now{};
  now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  auth::RateLimiter limiter(2, std::chrono::seconds(60));
  o.rate_limiter = &limiter;
  o.now = [] { return now; };
  CHECK(handle(post("users/alice", k_alice), svc, o).status == 200);
  CHECK(handle(post("users/alice", k_alice), svc, o).status == 200);
  const Response third = handle(post("users/alice", k_alice), svc, o);
  CHECK_THAT(error_of(third, 429), Catch::StartsWith("alice: too many requests"));
  REQUIRE(headers_named(third, "Retry-After").size() == 1);
  CHECK(std::stoi(headers_named(third, "Retry-After")[0]) >= 1);
  CHECK(svc.submitted.size() == 2);
  // Others are not held by alice's limit, and reads are not limited.
  CHECK(handle(post("users/bob", k_bob), svc, o).status == 200);
  CHECK(handle(make("GET", "/builds", k_alice), svc, o).status == 200);
  // Tokens are services: not limited per user.
  Request token = post("users/bob", std::nullopt);
  token.headers["Authorization"] = "Bearer " + k_ci_secret;
  for (int i = 0; i < 3; ++i) {
    CHECK(handle(token, svc, o).status == 200);
  }
  // Time restores the allowance.
  now += std::chrono::seconds(60);
  CHECK(handle(post("users/alice", k_alice), svc, o).status == 200);
}

TEST_CASE("identity off: as before, and a MUNGE credential is not taken", "[server][identity]") {
  FakeService svc;
  HandlerOptions o;
  o.api_token = "api-secret";
  Request r = post("users/alice", std::nullopt);
  r.headers["Authorization"] = "MUNGE MUNGE:AAAA:";
  CHECK_THAT(error_of(handle(r, svc, o), 401), Catch::StartsWith("missing bearer token"));
  SECTION("no token configured: anyone, attributed to nobody") {
    HandlerOptions open;
    const Response a = handle(post("users/bob", std::nullopt), svc, open);
    REQUIRE(a.status == 200);
    CHECK(body_of(a).at("requested_by").is_null());
    CHECK(svc.requesters.at(0).kind == auth::Requester::Kind::none);
    CHECK_THAT(a.audit, Catch::Contains("by - via=open"));
  }
  SECTION("the API token is the token \"api\"") {
    Request t = post("users/bob", std::nullopt);
    t.headers["Authorization"] = "Bearer api-secret";
    const Response a = handle(t, svc, o);
    REQUIRE(a.status == 200);
    CHECK(body_of(a).at("requested_by").at("name") == "api");
  }
}
