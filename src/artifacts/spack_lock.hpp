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

// `roots` in the order of the requested packages (`requested`), by name; roots not requested
// keep their lockfile order, after them. Spack writes a lock's roots in no particular order
// (each run may differ), and what users read (the module's whatis, the README, softpack.yml)
// follows their request.
std::vector<spec::Package> in_requested_order(std::vector<spec::Package> roots,
                                              const std::vector<spec::Package>& requested);

} // namespace softpack::artifacts
