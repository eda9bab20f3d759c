#pragma once

#include "util/error.hpp"

#include <filesystem>
#include <string>

namespace softpack::cli {

// sp-submit: validate an environment spec and build it.
//   sp-submit SPEC.yml --name users/me/env --version 1 [--wait] [--config FILE]
//   sp-submit users/me/env-1/softpack.yml     (name and version from the directory)
//   sp-submit REQUEST.json [--wait]           (softpack-core's JSON build request)
//   sp-submit SPEC.yml --name ... --version ... --dry-run DIR
//   sp-submit SPEC.yml ... --server URL [--token-file FILE] [--wait]
// Options come in any order. Exit codes: see cli/common.hpp (a 401 or 403 from the service is 2).
int sp_submit_main(int argc, char** argv);

// The environment a softpack.yml is for when --name and --version are not given, from the
// directory it is in, laid out as in softpack-core's artifacts repository:
// .../<users|groups>/<owner>/<name>-<number>/softpack.yml gives name users/<owner>/<name> and
// version <number> (spec::split_versioned_name: digits only, so "my-env" is no name and
// version). Anything else is invalid_input saying to give --name and --version. Pure: works on
// the path as given (make it absolute first).
struct EnvironmentName {
  std::string name;    // users/alice/my-env
  std::string version; // 1
};
Expected<EnvironmentName> infer_environment(const std::filesystem::path& spec_file);

} // namespace softpack::cli
