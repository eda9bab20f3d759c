#include "util/net.hpp"

#include <algorithm>
#include <vector>

#include <catch2/catch.hpp>

using namespace softpack;

TEST_CASE("net: addresses are IPv4 or IPv6, never names", "[util][net]") {
  CHECK(parse_ip_address("127.0.0.1"));
  CHECK(parse_ip_address("::1"));
  CHECK(parse_ip_address("fd00::1:2"));
  CHECK(parse_ip_address("::ffff:127.0.0.1") == parse_ip_address("127.0.0.1"));
  for (const char* bad :
       {"", "localhost", "127.0.0.1 ", "127.1", "1.2.3.4.5", "::1/128", "256.0.0.1"}) {
    INFO(bad);
    CHECK_FALSE(parse_ip_address(bad));
  }
}

TEST_CASE("net: networks in CIDR notation", "[util][net]") {
  const auto loopback = parse_ip_network("127.0.0.0/8");
  REQUIRE(loopback);
  CHECK(loopback->contains(*parse_ip_address("127.0.0.1")));
  CHECK(loopback->contains(*parse_ip_address("127.255.0.7")));
  CHECK(loopback->contains(*parse_ip_address("::ffff:127.0.0.1")));
  CHECK_FALSE(loopback->contains(*parse_ip_address("128.0.0.1")));
  CHECK_FALSE(loopback->contains(*parse_ip_address("::1")));

  const auto host = parse_ip_network("10.0.0.5");
  REQUIRE(host);
  CHECK(host->contains(*parse_ip_address("10.0.0.5")));
  CHECK_FALSE(host->contains(*parse_ip_address("10.0.0.4")));

  const auto v6 = parse_ip_network("fd00::/8");
  REQUIRE(v6);
  CHECK(v6->contains(*parse_ip_address("fdab::1")));
  CHECK_FALSE(v6->contains(*parse_ip_address("fe80::1")));
  CHECK_FALSE(v6->contains(*parse_ip_address("10.0.0.1")));

  const auto all = parse_ip_network("0.0.0.0/0");
  REQUIRE(all);
  CHECK(all->contains(*parse_ip_address("8.8.8.8")));
  CHECK_FALSE(all->contains(*parse_ip_address("::1"))); // IPv4's /0 is not IPv6

  const auto odd = parse_ip_network("10.1.2.128/25");
  REQUIRE(odd);
  CHECK(odd->contains(*parse_ip_address("10.1.2.200")));
  CHECK_FALSE(odd->contains(*parse_ip_address("10.1.2.127")));
}

TEST_CASE("net: bad networks say what is wrong", "[util][net]") {
  auto e = parse_ip_network("core.example.org/24");
  REQUIRE_FALSE(e);
  CHECK_THAT(e.error().message, Catch::Contains("not an IP address"));
  e = parse_ip_network("10.0.0.0/33");
  REQUIRE_FALSE(e);
  CHECK_THAT(e.error().message, Catch::Contains("0 to 32"));
  e = parse_ip_network("10.0.0.0/");
  REQUIRE_FALSE(e);
  e = parse_ip_network("10.0.0.0/8x");
  REQUIRE_FALSE(e);
  e = parse_ip_network("10.1.2.3/16");
  REQUIRE_FALSE(e);
  CHECK_THAT(e.error().message, Catch::Contains("host bits"));
  e = parse_ip_network("::1/129");
  REQUIRE_FALSE(e);
  CHECK_THAT(e.error().message, Catch::Contains("0 to 128"));
}

TEST_CASE("net: this host's addresses, and which network covers one", "[util][net]") {
  const auto local = local_addresses();
  const auto loopback = *parse_ip_address("127.0.0.1");
  CHECK(std::find(local.begin(), local.end(), loopback) != local.end());
  CHECK(to_string(loopback) == "127.0.0.1");
  CHECK(to_string(*parse_ip_address("::1")) == "::1");
  const std::vector<IpNetwork> nets = {*parse_ip_network("10.0.0.0/8"),
                                       *parse_ip_network("127.0.0.0/8")};
  auto covered = first_covering(nets, {*parse_ip_address("192.0.2.1"), loopback});
  REQUIRE(covered);
  CHECK(covered->network == "127.0.0.0/8");
  CHECK(covered->address == "127.0.0.1");
  CHECK_FALSE(first_covering(nets, {*parse_ip_address("192.0.2.1")}));
  CHECK_FALSE(first_covering({}, local));
}
