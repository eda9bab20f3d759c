#include "cli/wiring.hpp"

namespace softpack::cli {

Expected<std::unique_ptr<Wiring>> wire(const config::Config& config) {
  auto w = std::make_unique<Wiring>();
  auto made = backends::make({w->io, w->runner, config});
  if (!made) {
    return made.error();
  }
  w->backends = std::move(*made);
  return w;
}

} // namespace softpack::cli
