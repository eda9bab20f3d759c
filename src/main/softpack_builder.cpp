// softpack-builder: the service and admin commands. All logic lives in softpack_core.
#include "cli/builder_main.hpp"

#include <exception>
#include <iostream>

int main(int argc, char** argv) {
  try {
    return softpack::cli::softpack_builder_main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "softpack-builder: internal error: " << e.what() << "\n";
    return 4;
  }
}
