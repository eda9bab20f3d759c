#include "util/time.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace softpack {

std::int64_t to_unix_seconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

namespace {
// SystemTime's range in whole seconds; std::chrono::seconds(s) converted to a finer duration
// outside it is signed overflow (found by fuzzing sacct's times).
constexpr std::int64_t k_min_seconds =
    std::chrono::duration_cast<std::chrono::seconds>(SystemTime::duration::min()).count() + 1;
constexpr std::int64_t k_max_seconds =
    std::chrono::duration_cast<std::chrono::seconds>(SystemTime::duration::max()).count() - 1;
} // namespace

SystemTime from_unix_seconds(std::int64_t s) {
  return SystemTime(std::chrono::seconds(std::clamp(s, k_min_seconds, k_max_seconds)));
}

std::optional<SystemTime> checked_from_unix_seconds(std::int64_t s) {
  if (s < k_min_seconds || s > k_max_seconds) {
    return std::nullopt;
  }
  return SystemTime(std::chrono::seconds(s));
}

std::string format_rfc3339(SystemTime t) {
  const std::time_t tt = static_cast<std::time_t>(to_unix_seconds(t));
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<SystemTime> parse_rfc3339(std::string_view s) {
  int y, mo, d, h, mi, sec;
  char rest[16] = {0};
  std::string str(s.substr(0, 40));
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%15s", &y, &mo, &d, &h, &mi, &sec, rest) <
      6) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  std::int64_t t = ::timegm(&tm);
  std::string_view r(rest);
  if (!r.empty() && r[0] == '.') { // fractional seconds: ignored
    auto end = r.find_first_not_of("0123456789", 1);
    r = end == std::string_view::npos ? std::string_view{} : r.substr(end);
  }
  if (r == "Z" || r.empty()) {
    return checked_from_unix_seconds(t);
  }
  int oh = 0, om = 0;
  if ((r[0] == '+' || r[0] == '-') &&
      std::sscanf(std::string(r.substr(1)).c_str(), "%2d:%2d", &oh, &om) == 2) {
    const std::int64_t off = (oh * 3600 + om * 60) * (r[0] == '+' ? 1 : -1);
    return checked_from_unix_seconds(t - off);
  }
  return std::nullopt;
}

namespace {

std::tm tm_of(const CivilTime& t) {
  std::tm tm{};
  tm.tm_year = t.year - 1900;
  tm.tm_mon = t.month - 1;
  tm.tm_mday = t.day;
  tm.tm_hour = t.hour;
  tm.tm_min = t.minute;
  tm.tm_sec = t.second;
  return tm;
}

} // namespace

TimeZone TimeZone::utc() {
  return fixed(std::chrono::seconds(0));
}

TimeZone TimeZone::fixed(std::chrono::seconds east_of_utc) {
  return TimeZone([east_of_utc](const CivilTime& t) -> std::optional<SystemTime> {
    std::tm tm = tm_of(t);
    return checked_from_unix_seconds(static_cast<std::int64_t>(::timegm(&tm)) -
                                     east_of_utc.count());
  });
}

TimeZone TimeZone::process_local() {
  return TimeZone([](const CivilTime& t) -> std::optional<SystemTime> {
    std::tm tm = tm_of(t);
    tm.tm_isdst = -1; // let the zone's rules decide
    const std::time_t s = std::mktime(&tm);
    if (s == static_cast<std::time_t>(-1)) {
      return std::nullopt;
    }
    return checked_from_unix_seconds(s);
  });
}

std::string format_duration(std::chrono::seconds d) {
  auto s = d.count();
  if (s < 0) {
    s = 0;
  }
  const auto h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
  char buf[48];
  if (h > 0) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm%02llds", static_cast<long long>(h),
                  static_cast<long long>(m), static_cast<long long>(sec));
  } else if (m > 0) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(m),
                  static_cast<long long>(sec));
  } else {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(sec));
  }
  return buf;
}

} // namespace softpack
