// sp-submit: the user command. All logic lives in softpack_core.
#include "cli/sp_submit.hpp"

#include <exception>
#include <iostream>

int main(int argc, char** argv) {
  try {
    return softpack::cli::sp_submit_main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "sp-submit: internal error: " << e.what() << "\n";
    return 4;
  }
}
