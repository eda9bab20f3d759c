// libmunge against the system munged (/run/munge/munge.socket.2, started by scripts/slurm-up);
// skipped with a warning when it does not answer. tests/integration covers other daemons.

#include "auth/munge_codec.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>

using namespace softpack::auth;

namespace {

// A codec for the system munged, or none (with a warning) when it does not answer.
std::unique_ptr<MungeCodec> system_munged() {
  auto codec = make_libmunge_codec("");
  if (const auto probe = codec->encode("", 0); !probe) {
    WARN("skipped: munged does not answer (" << probe.error().describe() << ")");
    return nullptr;
  }
  return codec;
}

} // namespace

TEST_CASE("auth libmunge: encode, decode, replay", "[auth][munge]") {
  const auto codec = system_munged();
  if (!codec) {
    return;
  }
  const std::string payload = "softpack-builder-v1\nPOST\n/environments/build\nabc\n";
  const auto credential = codec->encode(payload, 60);
  REQUIRE(credential);
  CHECK(credential->starts_with("MUNGE:"));
  CHECK(credential->ends_with(":"));

  const auto first = codec->decode(*credential);
  CHECK(first.status == MungeStatus::ok);
  CHECK(first.payload == payload);
  CHECK(first.uid == ::getuid());
  CHECK(first.gid == ::getgid());
  CHECK(first.detail.empty());

  const auto second = codec->decode(*credential);
  CHECK(second.status == MungeStatus::replayed);
  CHECK(second.uid == ::getuid()); // munged still says whose it was
  CHECK_FALSE(second.detail.empty());
}

TEST_CASE("auth libmunge: an empty payload decodes to an empty payload", "[auth][munge]") {
  const auto codec = system_munged();
  if (!codec) {
    return;
  }
  const auto credential = codec->encode("", 0);
  REQUIRE(credential);
  const auto decoded = codec->decode(*credential);
  CHECK(decoded.status == MungeStatus::ok);
  CHECK(decoded.payload.empty());
}

TEST_CASE("auth libmunge: altered and forged credentials", "[auth][munge]") {
  const auto codec = system_munged();
  if (!codec) {
    return;
  }
  SECTION("one base64 character altered") {
    auto credential = codec->encode("payload", 60);
    REQUIRE(credential);
    std::string altered = *credential;
    const std::size_t i = altered.size() / 2;
    altered[i] = altered[i] == 'A' ? 'B' : 'A';
    const auto decoded = codec->decode(altered);
    INFO(decoded.detail);
    CHECK((decoded.status == MungeStatus::invalid || decoded.status == MungeStatus::malformed));
    CHECK_FALSE(decoded.detail.empty());
  }
  SECTION("garbage inside the armor") {
    const auto decoded = codec->decode("MUNGE:garbage:");
    INFO(decoded.detail);
    CHECK((decoded.status == MungeStatus::malformed || decoded.status == MungeStatus::invalid));
  }
  SECTION("no armor") {
    CHECK(codec->decode("garbage").status == MungeStatus::malformed);
  }
  SECTION("a NUL inside is refused before libmunge reads the part before it") {
    auto credential = codec->encode("payload", 60);
    REQUIRE(credential);
    const auto decoded = codec->decode(*credential + std::string(1, '\0') + "x");
    CHECK(decoded.status == MungeStatus::malformed);
    // The real credential was not used up by that.
    CHECK(codec->decode(*credential).status == MungeStatus::ok);
  }
}

TEST_CASE("auth libmunge: a socket nobody serves is unavailable", "[auth][munge]") {
  // Needs no munged: libmunge fails to connect (after its own retries, ~1 s).
  auto codec = make_libmunge_codec("/nonexistent/softpack-test/munge.socket");
  const auto decoded = codec->decode("MUNGE:AwQFAAB0:");
  CHECK(decoded.status == MungeStatus::unavailable);
  CHECK_FALSE(decoded.detail.empty());
  const auto encoded = codec->encode("payload", 60);
  REQUIRE_FALSE(encoded);
  CHECK(encoded.error().kind == softpack::ErrorKind::transient);
  CHECK_THAT(encoded.error().message, Catch::StartsWith("cannot make a MUNGE credential"));
}
