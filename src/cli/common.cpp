#include "cli/common.hpp"

#include "backends/backends.hpp"

#include <cstdlib>
#include <filesystem>

namespace softpack::cli {

int exit_code_for(const Error& error) {
  switch (error.kind) {
  case ErrorKind::invalid_input:
  case ErrorKind::conflict:
    return k_exit_bad_input;
  case ErrorKind::config:
    return k_exit_config;
  default:
    return k_exit_internal;
  }
}

Expected<config::Config> load_site_config(const std::optional<std::string>& path) {
  if (path) {
    return backends::load_config(*path);
  }
  if (const char* env = std::getenv("SOFTPACK_BUILDER_CONFIG"); env && *env) {
    return backends::load_config(env);
  }
  const std::filesystem::path system_config = "/etc/softpack-builder/config.yaml";
  if (std::filesystem::exists(system_config)) {
    return backends::load_config(system_config);
  }
  // The built-in defaults, with the backends' defaults filled in.
  return backends::parse_config("", "(defaults)");
}

} // namespace softpack::cli
