#pragma once

#include "cli/common.hpp"
#include "config/config.hpp"

namespace softpack::cli {

// softpack-builder serve: the service on the configured address until SIGTERM/SIGINT, which
// stop it cleanly (stop accepting, finish in-flight requests; state is already durable; jobs
// keep running on the cluster and are re-attached at the next start). Takes the configuration
// and secrets check_site() made, without errors. Returns the exit code.
int serve(const config::Config& config, const ServeSecrets& secrets);

} // namespace softpack::cli
