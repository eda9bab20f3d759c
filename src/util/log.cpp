#include "util/log.hpp"

#include <string>

#include <spdlog/spdlog.h>

namespace softpack {

void set_log_level(std::string_view level) {
  const auto parsed = spdlog::level::from_str(std::string(level));
  if (parsed != spdlog::level::off || level == "off") {
    spdlog::set_level(parsed);
  }
}

} // namespace softpack
