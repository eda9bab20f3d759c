#include "util/units.hpp"

#include <chrono>

#include <catch2/catch.hpp>

using namespace softpack;
using namespace std::chrono_literals;

TEST_CASE("units: durations and memory sizes", "[units]") {
  CHECK(*parse_duration("30") == 30s);
  CHECK(*parse_duration("30s") == 30s);
  CHECK(*parse_duration("250ms") == 250ms);
  CHECK(*parse_duration("5m") == 300s);
  CHECK(*parse_duration("2h") == 7200s);
  CHECK(*parse_duration("1d") == 86400s);
  CHECK(*parse_duration("10:00") == 600s);
  CHECK(*parse_duration("1:00:00") == 3600s);
  CHECK(*parse_duration("2-03:00:00") == std::chrono::seconds(2 * 86400 + 3 * 3600));
  CHECK(*parse_duration("1-12") == std::chrono::seconds(86400 + 12 * 3600));
  for (const char* bad : {"", "x", "5x", "-5", "1:2:3:4", "s", "5 m"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
  SECTION("durations that would overflow are refused, not wrapped") {
    CHECK(*parse_duration("36600d") == std::chrono::hours(24 * 36600));
    for (const char* huge :
         {"36601d", "9223372036854775807", "9223372036854775807ms", "106751991167301d",
          "9999999999999999h", "99999999999999:00", "3000000000:00:00", "106751991167301-00",
          "1-9223372036854775807", "5-00:9223372036854775807"}) {
      INFO(huge);
      const auto d = parse_duration(huge);
      REQUIRE_FALSE(d.has_value());
      CHECK_THAT(d.error().message, Catch::EndsWith("is longer than 100 years"));
    }
  }
  SECTION("memory sizes that would wrap around are refused") {
    CHECK(*parse_memory_mb("1048576T") == 1ull << 40);
    for (const char* huge : {"1048577T", "1099511627776T", "1099511627776G"}) {
      INFO(huge);
      const auto m = parse_memory_mb(huge);
      REQUIRE_FALSE(m.has_value());
      CHECK_THAT(m.error().message, Catch::Contains("over the limit of 1 EiB"));
    }
  }
  CHECK(*parse_memory_mb("512") == 512);
  CHECK(*parse_memory_mb("512M") == 512);
  CHECK(*parse_memory_mb("4G") == 4096);
  CHECK(*parse_memory_mb("1T") == 1024 * 1024);
  CHECK(*parse_memory_mb("1536K") == 2);
  for (const char* bad : {"", "G", "4X", "-1", "1.5G"}) {
    INFO(bad);
    CHECK_FALSE(parse_memory_mb(bad).has_value());
  }
}
