#pragma once

// IP addresses and networks (CIDR), as text in configuration and from sockets. Pure (inet_pton,
// no name lookups), except local_addresses(), which asks the kernel (getifaddrs).

#include "util/error.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace softpack {

// An IPv4 or IPv6 address, IPv4 held as IPv4-mapped IPv6 (::ffff:a.b.c.d), so that a client an
// IPv6 socket reports as ::ffff:127.0.0.1 is the same as 127.0.0.1.
using IpAddress = std::array<std::uint8_t, 16>;

// "127.0.0.1", "::1", "::ffff:10.0.0.1"; nullopt for anything else (host names included).
std::optional<IpAddress> parse_ip_address(std::string_view text);

// A network: an address and a prefix length, e.g. 10.0.0.0/8 or fd00::/8.
struct IpNetwork {
  IpAddress address{};
  int prefix = 128; // of the 128 bits (an IPv4 /8 is 96 + 8)
  std::string text; // as written

  bool contains(const IpAddress& a) const;
};

// "10.1.0.0/16", "::1/128", or an address alone (the one host). Errors say what is wrong; the
// host bits must be zero ("10.1.2.3/16" is refused: it reads as a mistake).
Expected<IpNetwork> parse_ip_network(std::string_view text);

// This host's own addresses (every interface's, getifaddrs(3)), loopback included. Empty when
// they cannot be listed.
std::vector<IpAddress> local_addresses();

// The first of `networks` that contains one of `addresses` (its text and the address), or
// nullopt.
struct Covered {
  std::string network;
  std::string address;
};
std::optional<Covered> first_covering(const std::vector<IpNetwork>& networks,
                                      const std::vector<IpAddress>& addresses);

// The address as text (IPv4-mapped addresses as a.b.c.d).
std::string to_string(const IpAddress& address);

} // namespace softpack
