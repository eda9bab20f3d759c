#pragma once

// Reading what a build concretized to from Spack's lockfile (spack.lock, JSON; lockfile
// versions 4 and 5 share the parts used here): the root specs with their concrete versions.

#include "spec/spec.hpp"
#include "util/error.hpp"

#include <string_view>
#include <vector>

namespace softpack::artifacts {

// The roots in lockfile order, each as name@concrete-version. Errors name what was expected
// (e.g. "roots[1].hash: no such concrete spec").
Expected<std::vector<spec::Package>> parse_lock_roots(std::string_view lockfile_json);

} // namespace softpack::artifacts
