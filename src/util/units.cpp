#include "util/units.hpp"

#include "util/text.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <vector>

namespace softpack {

namespace {
// Longer durations are refused: far beyond any sensible setting, and a chrono conversion of the
// next orders of magnitude to nanoseconds overflows.
constexpr long long k_max_duration_ms = 100LL * 366 * 86400 * 1000;
} // namespace

Expected<std::chrono::milliseconds> parse_duration(std::string_view text) {
  const std::string_view s = trim(text);
  auto number = [](std::string_view digits) -> std::optional<long long> {
    long long v = 0;
    if (digits.empty()) {
      return std::nullopt;
    }
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc() || p != digits.data() + digits.size() || v < 0) {
      return std::nullopt;
    }
    return v;
  };
  const auto fail = make_error(ErrorKind::config, "not a duration: '" + printable(s) + "'");
  const auto too_long =
      make_error(ErrorKind::config, "duration '" + printable(s) + "' is longer than 100 years");
  if (s.empty()) {
    return fail;
  }
  if (s.find(':') != std::string_view::npos || s.find('-') != std::string_view::npos) {
    // Slurm: "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS".
    long long days = 0;
    std::string_view rest = s;
    if (auto dash = s.find('-'); dash != std::string_view::npos) {
      auto d = number(s.substr(0, dash));
      if (!d) {
        return fail;
      }
      days = *d;
      rest = s.substr(dash + 1);
    }
    auto parts = split(rest, ':');
    std::vector<long long> v;
    for (const auto& p : parts) {
      auto n = number(p);
      if (!n) {
        return fail;
      }
      v.push_back(*n);
    }
    // Each part is at most 19 digits, so bound them before multiplying.
    if (days > k_max_duration_ms / 86400000 ||
        std::any_of(v.begin(), v.end(), [](long long n) { return n > k_max_duration_ms / 1000; })) {
      return too_long;
    }
    long long secs = 0;
    if (s.find('-') != std::string_view::npos) {
      // D-HH[:MM[:SS]]
      if (v.empty() || v.size() > 3) {
        return fail;
      }
      if (v[0] > k_max_duration_ms / 3600000) {
        return too_long;
      }
      secs = v[0] * 3600 + (v.size() > 1 ? v[1] * 60 : 0) + (v.size() > 2 ? v[2] : 0);
    } else if (v.size() == 2) {
      secs = v[0] * 60 + v[1];
    } else if (v.size() == 3) {
      if (v[0] > k_max_duration_ms / 3600000) {
        return too_long;
      }
      secs = v[0] * 3600 + v[1] * 60 + v[2];
    } else {
      return fail;
    }
    const long long ms = (days * 86400 + secs) * 1000;
    if (ms > k_max_duration_ms) {
      return too_long;
    }
    return std::chrono::milliseconds(ms);
  }
  // A number and a unit; a plain number is seconds.
  const auto unit_at = s.find_first_not_of("0123456789");
  const std::string_view digits = s.substr(0, unit_at);
  const std::string_view unit = unit_at == std::string_view::npos ? "s" : s.substr(unit_at);
  static constexpr std::pair<std::string_view, long long> k_units[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
  auto n = number(digits);
  if (!n) {
    return fail;
  }
  for (const auto& [name, ms] : k_units) {
    if (unit == name) {
      if (*n > k_max_duration_ms / ms) {
        return too_long;
      }
      return std::chrono::milliseconds(*n * ms);
    }
  }
  return fail;
}

Expected<std::uint64_t> parse_memory_mb(std::string_view text) {
  std::string_view s = trim(text);
  const auto fail = make_error(ErrorKind::config, "not a memory size: '" + printable(s) + "'");
  if (s.empty()) {
    return fail;
  }
  std::uint64_t kib_per_unit = 1024; // plain numbers are megabytes, as in Slurm
  const char unit = static_cast<char>(s.back() | 0x20);
  if (unit >= 'a' && unit <= 'z') {
    s.remove_suffix(1);
    switch (unit) {
    case 'k':
      kib_per_unit = 1;
      break;
    case 'm':
      kib_per_unit = 1024;
      break;
    case 'g':
      kib_per_unit = 1024 * 1024;
      break;
    case 't':
      kib_per_unit = 1024ull * 1024 * 1024;
      break;
    default:
      return fail;
    }
  }
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > (1ull << 40)) {
    return fail;
  }
  // 2^40 terabytes would wrap around to a small number.
  if (v > (1ull << 50) / kib_per_unit) {
    return make_error(ErrorKind::config,
                      "memory size '" + printable(trim(text)) + "' is over the limit of 1 EiB");
  }
  return (v * kib_per_unit + 1023) / 1024;
}

} // namespace softpack
