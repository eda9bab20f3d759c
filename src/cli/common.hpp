#pragma once

// What the command-line entry points share: exit codes and finding the site configuration.

#include "config/config.hpp"
#include "util/error.hpp"

#include <optional>
#include <string>

namespace softpack::cli {

enum ExitCode : int {
  k_exit_ok = 0,
  k_exit_build_failed = 1, // the build ran and failed (or was cancelled)
  k_exit_bad_input = 2,    // bad spec, request or command line
  k_exit_config = 3,       // bad site configuration
  k_exit_internal = 4,     // anything else: I/O, a command that could not run, a bug
};

int exit_code_for(const Error& error);

// --config FILE, else $SOFTPACK_BUILDER_CONFIG, else /etc/softpack-builder/config.yaml when it
// exists, else the built-in defaults; parsed against the backends table.
Expected<config::Config> load_site_config(const std::optional<std::string>& path);

} // namespace softpack::cli
