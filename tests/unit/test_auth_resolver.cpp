#include "auth/binding.hpp"
#include "auth/resolver.hpp"
#include "support/fake_accounts.hpp"
#include "support/fake_munge_codec.hpp"

#include <catch2/catch.hpp>

using namespace softpack;
using namespace softpack::auth;
using softpack::testing::FakeAccounts;
using softpack::testing::FakeMungeCodec;

namespace {

constexpr std::string_view k_method = "POST";
constexpr std::string_view k_target = "/environments/build";
constexpr std::string_view k_body = R"({"name":"env-1","path":"users/alice"})";

struct Setup {
  FakeMungeCodec codec;
  FakeAccounts accounts;
  Setup() {
    codec.encode_as(1001, 100);
    accounts.add(Account{"alice", 1001, 100, {"users", "alice", "hgi"}});
  }
  std::string credential_for(std::string_view body = k_body) {
    auto c = codec.encode(request_binding(k_method, k_target, body), 60);
    REQUIRE(c);
    return *c;
  }
  Resolution resolve(const std::string& credential, std::string_view body = k_body) {
    return resolve_munge(credential, k_method, k_target, body, codec, accounts);
  }
};

AuthFailure failure_of(const Resolution& r) {
  REQUIRE(std::holds_alternative<AuthFailure>(r));
  return std::get<AuthFailure>(r);
}

Principal principal_of(const Resolution& r) {
  if (const auto* f = std::get_if<AuthFailure>(&r)) {
    FAIL("refused: " << f->status << " " << f->message);
  }
  return std::get<Principal>(r);
}

} // namespace

TEST_CASE("auth resolver: a good MUNGE credential names the user and their groups", "[auth]") {
  Setup s;
  const auto p = principal_of(s.resolve(s.credential_for()));
  CHECK(p.who == Requester{Requester::Kind::user, "alice", 1001});
  CHECK(p.gid == 100);
  CHECK(p.groups == std::vector<std::string>{"users", "alice", "hgi"});
  CHECK(p.routes.empty());
  CHECK(p.via == "munge");
}

TEST_CASE("auth resolver: a credential is good for one request", "[auth]") {
  Setup s;
  const auto credential = s.credential_for();
  principal_of(s.resolve(credential));
  const auto f = failure_of(s.resolve(credential));
  CHECK(f.status == 401);
  CHECK(f.message == "MUNGE credential already used: a credential is good for one request");
}

TEST_CASE("auth resolver: a credential made for another request", "[auth]") {
  Setup s;
  SECTION("another body") {
    const auto f = failure_of(s.resolve(s.credential_for(), R"({"name":"env-2"})"));
    CHECK(f.status == 401);
    CHECK(f.message ==
          "MUNGE credential was made for another request (method, path or body differ)");
  }
  SECTION("another target or method") {
    const auto credential = s.credential_for();
    auto r = resolve_munge(credential, k_method, "/builds/x", k_body, s.codec, s.accounts);
    CHECK_THAT(failure_of(r).message, Catch::Contains("made for another request"));
    const auto again = s.credential_for();
    r = resolve_munge(again, "DELETE", k_target, k_body, s.codec, s.accounts);
    CHECK_THAT(failure_of(r).message, Catch::Contains("made for another request"));
  }
  SECTION("no payload at all") {
    auto c = s.codec.encode("", 60);
    REQUIRE(c);
    const auto f = failure_of(s.resolve(*c));
    CHECK(f.status == 401);
    CHECK(f.message == "MUNGE credential carries no request binding");
  }
  // The account is not looked up for a credential that does not hold.
  CHECK(s.accounts.calls() == 0);
}

TEST_CASE("auth resolver: every MUNGE status has its answer", "[auth]") {
  struct Case {
    MungeStatus status;
    int http;
    std::string message;
  };
  const Case cases[] = {
      {MungeStatus::expired, 401,
       "MUNGE credential expired (made more than its TTL ago; are the clocks in sync?)"},
      {MungeStatus::rewound, 401, "MUNGE credential made in the future (are the clocks in sync?)"},
      {MungeStatus::replayed, 401,
       "MUNGE credential already used: a credential is good for one request"},
      {MungeStatus::invalid, 401,
       "MUNGE credential invalid: made with another key (another MUNGE realm) or altered"},
      {MungeStatus::malformed, 401, "malformed MUNGE credential: Failed to match armor prefix"},
      {MungeStatus::unauthorized, 401,
       "MUNGE credential may not be decoded by this service (uid/gid restriction)"},
      {MungeStatus::unavailable, 503,
       "cannot check MUNGE credentials: Failed to connect to \"/run/munge/munge.socket.2\""},
  };
  for (const auto& c : cases) {
    Setup s;
    const std::string credential = "MUNGE:case:";
    const std::string detail = c.status == MungeStatus::malformed
                                   ? "Failed to match armor prefix"
                                   : "Failed to connect to \"/run/munge/munge.socket.2\"";
    // munged reports who made an expired or replayed credential, and its payload: neither
    // makes it good.
    s.codec.answer(credential, MungeDecoded{c.status, request_binding(k_method, k_target, k_body),
                                            1001, 100, detail});
    INFO(c.message);
    const auto f = failure_of(s.resolve(credential));
    CHECK(f.status == c.http);
    CHECK(f.message == c.message);
    CHECK(s.accounts.calls() == 0);
  }
}

TEST_CASE("auth resolver: a credential the codec never made is invalid", "[auth]") {
  Setup s;
  const auto f = failure_of(s.resolve("MUNGE:forged:"));
  CHECK(f.status == 401);
  CHECK_THAT(f.message, Catch::StartsWith("MUNGE credential invalid"));
}

TEST_CASE("auth resolver: a uid without an account, or NSS failing", "[auth]") {
  Setup s;
  SECTION("unknown uid") {
    s.codec.encode_as(4242, 4242);
    const auto f = failure_of(s.resolve(s.credential_for()));
    CHECK(f.status == 401);
    CHECK(f.message == "uid 4242 has no account on this host");
  }
  SECTION("NSS down") {
    s.accounts.fail(make_error(ErrorKind::io, "getpwuid_r(1001): Connection refused", "NSS"));
    const auto f = failure_of(s.resolve(s.credential_for()));
    CHECK(f.status == 503);
    CHECK(f.message == "cannot look up uid 1001: getpwuid_r(1001): Connection refused");
  }
}

TEST_CASE("auth resolver: a socket peer is its uid's account", "[auth]") {
  FakeAccounts accounts;
  accounts.add("bob", 1002, {"bob"});
  const auto p = principal_of(resolve_peer(1002, accounts));
  CHECK(p.who == Requester{Requester::Kind::user, "bob", 1002});
  CHECK(p.gid == 1002);
  CHECK(p.groups == std::vector<std::string>{"bob"});
  CHECK(p.via == "socket");

  auto f = failure_of(resolve_peer(77, accounts));
  CHECK(f.status == 401);
  CHECK(f.message == "uid 77 has no account on this host");
  accounts.fail(make_error(ErrorKind::io, "LDAP down"));
  f = failure_of(resolve_peer(1002, accounts));
  CHECK(f.status == 503);
  CHECK(f.message == "cannot look up uid 1002: LDAP down");
}
