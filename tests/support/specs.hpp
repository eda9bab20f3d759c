#pragma once

// Specs for tests, validated as everything after the edge expects (spec::ValidSpec). An invalid
// one is a mistake in the test: it throws.

#include "spec/spec.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace softpack::testing {

inline spec::ValidSpec valid_spec(spec::EnvironmentSpec s) {
  auto v = spec::ValidSpec::check(std::move(s));
  if (!v) {
    throw std::logic_error("test spec is not valid: " + v.error().describe());
  }
  return *v;
}

inline spec::ValidSpec valid_spec(std::string path, std::string name, std::string version = "1",
                                  std::vector<spec::Package> packages = {{"xxhash", "0.8.1"}},
                                  std::string description = {}) {
  spec::EnvironmentSpec s;
  s.path = std::move(path);
  s.name = std::move(name);
  s.version = std::move(version);
  s.packages = std::move(packages);
  s.description = std::move(description);
  return valid_spec(std::move(s));
}

} // namespace softpack::testing
