#pragma once

#include "config/config.hpp"

namespace softpack::cli {

// softpack-builder serve: the service on the configured address until SIGTERM/SIGINT, which
// stop it cleanly (stop accepting, finish in-flight requests; state is already durable; jobs
// keep running on the cluster and are re-attached at the next start). Returns the exit code.
int serve(const config::Config& config);

} // namespace softpack::cli
