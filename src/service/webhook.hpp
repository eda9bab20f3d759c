#pragma once

// The service's part of a GitLab push to the artifacts repository: which environments it asks
// to build (pure), and reading their softpack.yml at the pushed commit (git, blocking: done on
// a worker thread).

#include "config/config.hpp"
#include "server/gitlab.hpp"
#include "spec/spec.hpp"
#include "util/command.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace softpack::service {

struct PushWork {
  std::vector<server::ChangedEnvironment> environments; // to check; empty = nothing to do
  std::string commit;                                   // where to read them
  std::string message;                                  // what the push asks, for the answer
};

// A push to another branch, made by softpack-builder itself (a Softpack-Build-Id trailer or the
// builder's author email), or changing no softpack.yml asks for nothing.
PushWork plan_push(const server::GitlabPush& push, const config::ArtifactsConfig& artifacts);

// The softpack.yml of each environment at `commit` that has no module there yet, parsed. The
// repository is fetched into `mirror` first. What cannot be fetched, read or parsed is logged
// (with the delivery id) and left out.
std::vector<spec::ValidSpec> read_pushed_specs(CommandRunner& runner, const std::string& remote,
                                               const std::filesystem::path& mirror,
                                               const PushWork& work,
                                               const std::string& delivery_id);

} // namespace softpack::service
