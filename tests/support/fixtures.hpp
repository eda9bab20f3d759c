#pragma once

// The files under tests/fixtures/ (recorded scheduler output, requests, pushes, hostile inputs),
// by their path relative to it: fixture("slurm/squeue_pending_dependency.txt").

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace softpack::testing {

inline std::filesystem::path fixture_path(std::string_view relative) {
  return std::filesystem::path(SOFTPACK_TEST_FIXTURES) / relative;
}

// The whole file. A fixture that cannot be read is a broken test: it throws, naming the file.
inline std::string fixture(std::string_view relative) {
  const auto path = fixture_path(relative);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read the fixture " + path.string());
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

} // namespace softpack::testing
