#pragma once

#include <string_view>

namespace softpack {

// Sets the level of the program's log ("trace", "debug", "info", "warn", "error", "off"), so that
// code which does not link spdlog (tests, tools) can quiet it. Unknown names leave it unchanged.
void set_log_level(std::string_view level);

} // namespace softpack
