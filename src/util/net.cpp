#include "util/net.hpp"

#include <arpa/inet.h>
#include <charconv>
#include <cstring>
#include <ifaddrs.h>
#include <netinet/in.h>

namespace softpack {

std::optional<IpAddress> parse_ip_address(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  const std::string s(text);
  IpAddress a{};
  in_addr v4{};
  if (::inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    a[10] = 0xff;
    a[11] = 0xff;
    std::memcpy(a.data() + 12, &v4, 4);
    return a;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(a.data(), &v6, 16);
    return a;
  }
  return std::nullopt;
}

bool IpNetwork::contains(const IpAddress& a) const {
  for (int bit = 0; bit < prefix; ++bit) {
    const int byte = bit / 8;
    const auto mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
    if ((a[byte] & mask) != (address[byte] & mask)) {
      return false;
    }
  }
  return true;
}

Expected<IpNetwork> parse_ip_network(std::string_view text) {
  const auto slash = text.find('/');
  const auto host = text.substr(0, slash);
  auto address = parse_ip_address(host);
  if (!address) {
    return make_error(ErrorKind::invalid_input,
                      "'" + std::string(host) + "' is not an IP address (names are not looked up)");
  }
  const bool v4 = host.find(':') == std::string_view::npos;
  const int width = v4 ? 32 : 128;
  int prefix = width;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || r.ec != std::errc() || r.ptr != digits.data() + digits.size() ||
        prefix < 0 || prefix > width) {
      return make_error(ErrorKind::invalid_input, "'" + std::string(text) +
                                                      "': the prefix length must be 0 to " +
                                                      std::to_string(width));
    }
  }
  IpNetwork n;
  n.address = *address;
  n.prefix = v4 ? 96 + prefix : prefix;
  n.text = std::string(text);
  for (int bit = n.prefix; bit < 128; ++bit) {
    if (n.address[bit / 8] & (0x80u >> (bit % 8))) {
      return make_error(ErrorKind::invalid_input, "'" + std::string(text) +
                                                      "' has host bits set after the /" +
                                                      std::to_string(prefix) + " prefix");
    }
  }
  return n;
}

namespace {

bool is_v4_mapped(const IpAddress& a) {
  for (std::size_t i = 0; i < 10; ++i) {
    if (a[i] != 0) {
      return false;
    }
  }
  return a[10] == 0xff && a[11] == 0xff;
}

} // namespace

std::string to_string(const IpAddress& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (is_v4_mapped(address)) {
    ::inet_ntop(AF_INET, address.data() + 12, text, sizeof text);
  } else {
    ::inet_ntop(AF_INET6, address.data(), text, sizeof text);
  }
  return text;
}

std::vector<IpAddress> local_addresses() {
  std::vector<IpAddress> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) {
    return out;
  }
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) {
      continue;
    }
    IpAddress a{};
    if (i->ifa_addr->sa_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      a[10] = 0xff;
      a[11] = 0xff;
      std::memcpy(a.data() + 12, &in->sin_addr, 4);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      std::memcpy(a.data(), &in6->sin6_addr, 16);
    } else {
      continue;
    }
    out.push_back(a);
  }
  ::freeifaddrs(list);
  return out;
}

std::optional<Covered> first_covering(const std::vector<IpNetwork>& networks,
                                      const std::vector<IpAddress>& addresses) {
  for (const auto& n : networks) {
    for (const auto& a : addresses) {
      if (n.contains(a)) {
        return Covered{n.text, to_string(a)};
      }
    }
  }
  return std::nullopt;
}

} // namespace softpack
