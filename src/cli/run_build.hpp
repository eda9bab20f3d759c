#pragma once

// sp-submit's local run: one build on the configured backend, from this process, to its end.

#include "config/config.hpp"
#include "spec/spec.hpp"

#include <iosfwd>

namespace softpack::cli {

struct RunOptions {
  bool wait = false;    // print every stage transition
  bool verbose = false; // also the engine's log lines
};

// Plans, writes and runs one build on the configured backend, returning when it has ended and
// its outcome is published: k_exit_ok when published, k_exit_build_failed otherwise (exit codes:
// cli/common.hpp). SIGINT/SIGTERM cancel the build (its jobs), which then ends as cancelled.
int run_build(const config::Config& config, const spec::ValidSpec& spec, const RunOptions& options,
              std::ostream& out, std::ostream& err);

} // namespace softpack::cli
