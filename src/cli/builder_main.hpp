#pragma once

namespace softpack::cli {

// softpack-builder: the service and admin commands.
//   softpack-builder stage-module --build-dir DIR   (run by the module job)
//   softpack-builder check-config [--config FILE]
//   softpack-builder version
int softpack_builder_main(int argc, char** argv);

} // namespace softpack::cli
