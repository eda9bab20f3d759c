#include "util/time.hpp"

#include <limits>

#include <catch2/catch.hpp>

using namespace softpack;

TEST_CASE("time: unix seconds outside the clock's range saturate or are refused", "[time]") {
  SECTION("in range") {
    CHECK(to_unix_seconds(from_unix_seconds(1764571234)) == 1764571234);
    REQUIRE(checked_from_unix_seconds(0).has_value());
    CHECK(to_unix_seconds(*checked_from_unix_seconds(0)) == 0);
  }
  SECTION("the year 8364 does not fit the nanosecond clock") {
    const std::int64_t year_8364 = 201803556136;
    CHECK_FALSE(checked_from_unix_seconds(year_8364).has_value());
    CHECK_FALSE(checked_from_unix_seconds(-year_8364).has_value());
    CHECK(from_unix_seconds(year_8364) > from_unix_seconds(4102444800)); // after 2100
    CHECK(from_unix_seconds(std::numeric_limits<std::int64_t>::max()) ==
          from_unix_seconds(year_8364));
    CHECK(from_unix_seconds(std::numeric_limits<std::int64_t>::min()) <
          from_unix_seconds(-1000000000));
  }
  SECTION("parse_rfc3339 refuses what the clock cannot hold") {
    CHECK(parse_rfc3339("2026-11-25T06:46:36Z").has_value());
    CHECK_FALSE(parse_rfc3339("8364-11-25T06:46:36Z").has_value());
    CHECK_FALSE(parse_rfc3339("9999-12-31T23:59:59+01:00").has_value());
  }
}
