// The unit tests' main: Catch2's, with the product's log quietened (SOFTPACK_TEST_LOG=info to
// see it).
#define CATCH_CONFIG_RUNNER
#include "util/log.hpp"

#include <cstdlib>

#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
  const char* level = std::getenv("SOFTPACK_TEST_LOG");
  softpack::set_log_level(level ? level : "error");
  return Catch::Session().run(argc, argv);
}
