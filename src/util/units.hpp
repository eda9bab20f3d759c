#pragma once

// Durations and memory sizes as sites write them in configuration files. Pure: text in,
// Expected out; errors are ErrorKind::config and quote the text.

#include "util/error.hpp"

#include <chrono>
#include <cstdint>
#include <string_view>

namespace softpack {

// "250ms", "30s", "5m", "2h", "1d", plain seconds, or Slurm's "[D-]HH:MM:SS" / "MM:SS". Longer
// than 100 years is refused.
Expected<std::chrono::milliseconds> parse_duration(std::string_view text);
// "512M", "4G", "1T", "1536K" or plain megabytes, rounded up to whole megabytes. Over 1 EiB is
// refused.
Expected<std::uint64_t> parse_memory_mb(std::string_view text);

} // namespace softpack
