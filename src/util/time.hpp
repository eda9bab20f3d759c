#pragma once

// Wall-clock time as a seam (tests use a manual clock) and its text forms.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace softpack {

using SystemTime = std::chrono::system_clock::time_point;

class Clock {
public:
  virtual ~Clock() = default;
  virtual SystemTime now() const = 0;
};

class SystemClock final : public Clock {
public:
  SystemTime now() const override { return std::chrono::system_clock::now(); }
};

// "2026-11-25T06:46:36Z" (UTC, second precision), as Go's time.RFC3339 prints UTC times.
std::string format_rfc3339(SystemTime t);
// Parses the form above and "+hh:mm" offsets; nullopt when malformed.
std::optional<SystemTime> parse_rfc3339(std::string_view s);
std::int64_t to_unix_seconds(SystemTime t);
// The time `s` seconds after the epoch, saturating at SystemTime's limits (libstdc++ counts
// nanoseconds in 64 bits: years 1677 to 2262), so that no stored or parsed number can overflow.
SystemTime from_unix_seconds(std::int64_t s);
// The same, but nullopt when SystemTime cannot represent it: for parsers, which treat such a
// time as malformed.
std::optional<SystemTime> checked_from_unix_seconds(std::int64_t s);
// A date and time of day as a clock on the wall shows it, in no particular zone.
struct CivilTime {
  int year = 1970, month = 1, day = 1; // month 1-12, day 1-31
  int hour = 0, minute = 0, second = 0;
};

// How the wall-clock times of some place map to instants: passed to parsers of output that
// prints local time (sacct), so that they do not depend on the process's time zone.
class TimeZone {
public:
  // UTC, and a fixed offset east of UTC (tests; sites whose clusters keep no DST).
  static TimeZone utc();
  static TimeZone fixed(std::chrono::seconds east_of_utc);
  // The process's local zone ($TZ, /etc/localtime), as the batch system's commands run here use
  // it; the one place that reads it.
  static TimeZone process_local();

  // The instant; nullopt when the time does not exist there or is out of SystemTime's range.
  std::optional<SystemTime> to_system(const CivilTime& t) const { return m_to_system(t); }

private:
  explicit TimeZone(std::function<std::optional<SystemTime>(const CivilTime&)> to_system)
      : m_to_system(std::move(to_system)) {}
  std::function<std::optional<SystemTime>(const CivilTime&)> m_to_system;
};

// "1h02m03s", "45s": for human-readable durations.
std::string format_duration(std::chrono::seconds d);

} // namespace softpack
