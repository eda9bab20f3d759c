#include "auth/rate_limit.hpp"

#include <string>
#include <utility>

#include <catch2/catch.hpp>

using softpack::auth::RateLimiter;
using namespace std::chrono_literals;

namespace {
const RateLimiter::Time k_t0 = RateLimiter::Time{} + 1000h;
}

TEST_CASE("auth rate limit: a full bucket takes `requests` at once, then says when", "[auth]") {
  RateLimiter limiter(3, 60s); // one more every 20 s
  CHECK_FALSE(limiter.take("alice", k_t0));
  CHECK_FALSE(limiter.take("alice", k_t0));
  CHECK_FALSE(limiter.take("alice", k_t0));
  auto wait = limiter.take("alice", k_t0);
  REQUIRE(wait);
  CHECK(*wait == 20s);
  // A refused request costs nothing: the wait only shrinks.
  wait = limiter.take("alice", k_t0 + 5s);
  REQUIRE(wait);
  CHECK(*wait == 15s);
  // Other callers have buckets of their own.
  CHECK_FALSE(limiter.take("bob", k_t0));
}

TEST_CASE("auth rate limit: a partial bucket refills at requests/per", "[auth]") {
  RateLimiter limiter(3, 60s);
  for (int i = 0; i < 3; ++i) {
    REQUIRE_FALSE(limiter.take("alice", k_t0));
  }
  // 10 s: half a request back, 10 s to go.
  auto wait = limiter.take("alice", k_t0 + 10s);
  REQUIRE(wait);
  CHECK(*wait == 10s);
  // 20 s: one back, taken; then empty again.
  CHECK_FALSE(limiter.take("alice", k_t0 + 20s));
  wait = limiter.take("alice", k_t0 + 20s);
  REQUIRE(wait);
  CHECK(*wait == 20s);
  // Long idle: full again, but never more than `requests`.
  for (int i = 0; i < 3; ++i) {
    CHECK_FALSE(limiter.take("alice", k_t0 + 1h));
  }
  CHECK(limiter.take("alice", k_t0 + 1h));
}

TEST_CASE("auth rate limit: waits are whole seconds rounded up, at least one", "[auth]") {
  RateLimiter limiter(7, 10s); // one every 10/7 s = 1.43 s
  for (int i = 0; i < 7; ++i) {
    REQUIRE_FALSE(limiter.take("alice", k_t0));
  }
  auto wait = limiter.take("alice", k_t0);
  REQUIRE(wait);
  CHECK(*wait == 2s);
  wait = limiter.take("alice", k_t0 + 1400ms);
  REQUIRE(wait);
  CHECK(*wait == 1s); // 0.03 s to go
  CHECK_FALSE(limiter.take("alice", k_t0 + 1430ms));

  RateLimiter fast(100, 1s);
  for (int i = 0; i < 100; ++i) {
    REQUIRE_FALSE(fast.take("bob", k_t0));
  }
  wait = fast.take("bob", k_t0);
  REQUIRE(wait);
  CHECK(*wait == 1s); // 10 ms to go, said as 1 s
}

TEST_CASE("auth rate limit: off when requests <= 0 or per <= 0", "[auth]") {
  for (const auto& [requests, per] : {std::pair{0, 60s}, std::pair{-1, 60s}, std::pair{5, 0s}}) {
    RateLimiter limiter(requests, per);
    for (int i = 0; i < 1000; ++i) {
      REQUIRE_FALSE(limiter.take("alice", k_t0));
    }
    CHECK(limiter.tracked() == 0);
  }
}

TEST_CASE("auth rate limit: time going backwards refunds nothing", "[auth]") {
  RateLimiter limiter(1, 60s);
  CHECK_FALSE(limiter.take("alice", k_t0));
  auto wait = limiter.take("alice", k_t0 - 30s);
  REQUIRE(wait);
  CHECK(*wait == 60s);
  wait = limiter.take("alice", k_t0 + 30s);
  REQUIRE(wait);
  CHECK(*wait == 30s);
}

TEST_CASE("auth rate limit: full buckets are forgotten, busy ones are not", "[auth]") {
  RateLimiter limiter(2, 60s);
  // Many callers once each; later one caller empties its bucket.
  for (int i = 0; i < 1000; ++i) {
    REQUIRE_FALSE(limiter.take("user" + std::to_string(i), k_t0));
  }
  REQUIRE_FALSE(limiter.take("alice", k_t0 + 59s));
  REQUIRE_FALSE(limiter.take("alice", k_t0 + 59s));
  // A minute on, the thousand are full again and dropped as the map is swept; alice is not
  // full, and her bucket must survive the sweeps.
  for (int i = 0; i < 200; ++i) {
    REQUIRE_FALSE(limiter.take("later" + std::to_string(i), k_t0 + 61s));
  }
  const auto wait = limiter.take("alice", k_t0 + 61s);
  REQUIRE(wait);
  CHECK(*wait == 28s); // 2 s of 30 s refilled
  CHECK(limiter.tracked() < 300);
}
