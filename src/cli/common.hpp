#pragma once

// What the command-line entry points share: exit codes, finding the site configuration, and
// running one build to its end with the embedded engine.

#include "artifacts/core_upload.hpp"
#include "artifacts/git_publisher.hpp"
#include "artifacts/oci_registry.hpp"
#include "config/config.hpp"
#include "spec/spec.hpp"
#include "util/error.hpp"

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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
// exists, else the built-in defaults.
Expected<config::Config> load_site_config(const std::optional<std::string>& path);

// The artifacts repository publisher as the site configuration describes it (the default: a
// bare repository in the data directory, created on first use).
artifacts::GitPublisherOptions git_publisher_options(const config::Config& config);

// The registry's options with its credentials (from $SOFTPACK_REGISTRY_CREDENTIALS or
// registry.credentials_file, "username:password"); errors name the file, never the secret.
Expected<artifacts::RegistryOptions> registry_options(const config::Config& config);
artifacts::CoreOptions core_options(const config::Config& config);

// The publish destinations the configuration names (publish.destinations), in publishing
// order, with their credentials read (from the environment or the files the config names).
struct Destinations {
  std::vector<std::unique_ptr<artifacts::Publisher>> owned;
  std::vector<artifacts::Publisher*> list() const;
};
Expected<Destinations> make_destinations(const config::Config& config, CommandRunner& runner);

struct RunOptions {
  bool wait = false;    // print every stage transition
  bool verbose = false; // also the engine's log lines
};

// Plans, writes and runs one build on the configured backend, returning when it has ended and
// its outcome is published: k_exit_ok when published, k_exit_build_failed otherwise.
// SIGINT/SIGTERM cancel the build (its jobs), which then ends as cancelled.
int run_build(const config::Config& config, const spec::EnvironmentSpec& spec,
              const RunOptions& options, std::ostream& out, std::ostream& err);

} // namespace softpack::cli
