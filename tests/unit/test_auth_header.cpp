#include "auth/authorization_header.hpp"

#include <string>

#include <catch2/catch.hpp>

using namespace softpack;
using auth::AuthHeader;
using auth::parse_authorization;

namespace {

const std::string k_munge = "MUNGE:AwQFAAB0Ya0Fq6sQ2k1lOTxvF4ODq0lY8ao4FoG3+8N/Vn2L:";

// The refusal's reason, after checking it is one and does not quote `secret`.
std::string refusal(std::string_view value, std::string_view secret = {}) {
  const auto h = parse_authorization(value);
  REQUIRE_FALSE(h);
  CHECK(h.error().kind == ErrorKind::invalid_input);
  if (!secret.empty()) {
    CHECK(h.error().message.find(secret) == std::string::npos);
  }
  return h.error().message;
}

} // namespace

TEST_CASE("auth header: Bearer and MUNGE, the scheme in any case", "[auth]") {
  for (const char* scheme : {"Bearer", "bearer", "BEARER", "bEaReR"}) {
    INFO(scheme);
    const auto h = parse_authorization(std::string(scheme) + " s3cr3t-token_1");
    REQUIRE(h);
    CHECK(h->scheme == AuthHeader::Scheme::bearer);
    CHECK(h->credential == "s3cr3t-token_1");
  }
  for (const char* scheme : {"MUNGE", "munge", "Munge"}) {
    INFO(scheme);
    const auto h = parse_authorization(std::string(scheme) + " " + k_munge);
    REQUIRE(h);
    CHECK(h->scheme == AuthHeader::Scheme::munge);
    CHECK(h->credential == k_munge);
  }
}

TEST_CASE("auth header: spaces and tabs between, around and after", "[auth]") {
  SECTION("several spaces") {
    const auto h = parse_authorization("Bearer    tok");
    REQUIRE(h);
    CHECK(h->credential == "tok");
  }
  SECTION("a tab, and spaces and tabs mixed") {
    auto h = parse_authorization("Bearer\ttok");
    REQUIRE(h);
    CHECK(h->credential == "tok");
    h = parse_authorization("MUNGE \t \t" + k_munge);
    REQUIRE(h);
    CHECK(h->credential == k_munge);
  }
  SECTION("trailing and leading whitespace is trimmed") {
    auto h = parse_authorization("Bearer tok  \t ");
    REQUIRE(h);
    CHECK(h->credential == "tok");
    h = parse_authorization(" \tBearer tok");
    REQUIRE(h);
    CHECK(h->credential == "tok");
  }
  SECTION("whitespace inside the credential") {
    CHECK_THAT(refusal("Bearer tok en", "tok"), Catch::Contains("whitespace"));
    CHECK_THAT(refusal("Bearer tok\ten", "tok"), Catch::Contains("whitespace"));
  }
}

TEST_CASE("auth header: empty or without a credential", "[auth]") {
  CHECK_THAT(refusal(""), Catch::Contains("empty Authorization header"));
  CHECK_THAT(refusal("  \t "), Catch::Contains("empty Authorization header"));
  CHECK(refusal("Bearer") == "Bearer without a credential");
  CHECK(refusal("Bearer   ") == "Bearer without a credential");
  CHECK(refusal("munge \t") == "MUNGE without a credential");
}

TEST_CASE("auth header: unknown schemes are named, bare credentials are not", "[auth]") {
  CHECK(refusal("Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpw") ==
        "unknown authorization scheme 'Basic' (expected Bearer or MUNGE)");
  CHECK_THAT(refusal("Token abc"), Catch::Contains("'Token'"));
  // A long scheme is cut at 20 characters.
  const std::string long_scheme(40, 'x');
  CHECK(refusal(long_scheme + " abc") == "unknown authorization scheme '" + std::string(20, 'x') +
                                             "...' (expected Bearer or MUNGE)");
  // Non-printable bytes of a scheme are escaped.
  CHECK_THAT(refusal("Bear\x01r abc"), Catch::Contains("Bear\\x01r"));
  // One word alone is likely a credential sent without a scheme: not echoed.
  CHECK_THAT(refusal("s3cr3t-token-without-scheme", "s3cr3t"), Catch::Contains("without a scheme"));
  CHECK_THAT(refusal(k_munge, "AwQFAAB0"), Catch::Contains("without a scheme"));
}

TEST_CASE("auth header: credential length", "[auth]") {
  const std::string at_limit(auth::k_max_credential, 'a');
  const auto h = parse_authorization("Bearer " + at_limit);
  REQUIRE(h);
  CHECK(h->credential.size() == auth::k_max_credential);
  const std::string over(auth::k_max_credential + 1, 'a');
  CHECK(refusal("Bearer " + over, "aaaaaaaa") == "Bearer credential longer than 8192 bytes");
  const std::string munge_over = "MUNGE:" + std::string(auth::k_max_credential, 'A') + ":";
  CHECK_THAT(refusal("MUNGE " + munge_over, "AAAAAAAA"), Catch::Contains("longer than 8192"));
}

TEST_CASE("auth header: control characters and non-ASCII bytes", "[auth]") {
  for (const std::string& bad :
       {std::string("Bearer tok\x01"), std::string("Bearer tok\x7f"), std::string("Bearer tok\r\n"),
        std::string("Bearer t\nok"), std::string("Bearer tok\0en", 13),
        std::string("Bearer t\xc3\xa9")}) {
    INFO(bad);
    CHECK_THAT(refusal(bad, "tok"), Catch::Contains("not printable ASCII"));
  }
  // Every printable character but space is fine in a bearer token.
  std::string all;
  for (char c = 0x21; c <= 0x7e; ++c) {
    all += c;
  }
  const auto h = parse_authorization("Bearer " + all);
  REQUIRE(h);
  CHECK(h->credential == all);
}

TEST_CASE("auth header: a MUNGE credential needs its armor", "[auth]") {
  for (const char* bad : {"AwQFAAB0Ya0F:", "MUNGE:AwQFAAB0Ya0F",
                          "munge:AwQFAAB0Ya0F:", "MUNGE::", "MUNGE:", ":AwQF:", "MUNGE"}) {
    INFO(bad);
    CHECK(refusal(std::string("MUNGE ") + bad, "AwQF") ==
          "MUNGE credential without its armor (MUNGE:...:)");
  }
  const auto shortest = parse_authorization("MUNGE MUNGE:x:");
  REQUIRE(shortest);
  CHECK(shortest->credential == "MUNGE:x:");
  // A bearer token may look like anything, armor included.
  const auto bearer = parse_authorization("Bearer " + k_munge);
  REQUIRE(bearer);
  CHECK(bearer->scheme == AuthHeader::Scheme::bearer);
}
