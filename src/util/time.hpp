#pragma once

// Wall-clock time as a seam (tests use a manual clock) and its text forms.

#include <chrono>
#include <cstdint>
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
// "1h02m03s", "45s": for human-readable durations.
std::string format_duration(std::chrono::seconds d);

} // namespace softpack
