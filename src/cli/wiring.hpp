#pragma once

// The one composition root: the real implementations behind the side-effect interfaces (the
// event loop, commands, the clock) and the backends the configuration selects, made from the
// backends table. `softpack-builder serve` and sp-submit's local run both start from it.

#include "backends/backends.hpp"
#include "config/config.hpp"
#include "util/command.hpp"
#include "util/time.hpp"

#include <memory>

#include <boost/asio/io_context.hpp>

namespace softpack::cli {

// Not movable: the backends hold references to the loop and the runner.
struct Wiring {
  boost::asio::io_context io;
  SystemCommandRunner runner;
  SystemClock clock;
  backends::Made backends;
};

// Errors (kind config, mostly) name the backend or setting that could not be made.
Expected<std::unique_ptr<Wiring>> wire(const config::Config& config);

} // namespace softpack::cli
