#pragma once

// Publishing a finished build's artifacts somewhere softpack-core can see them. Each
// destination is one Publisher; the flow calls publish() from a worker thread once the build's
// jobs have all ended.

#include "spec/spec.hpp"
#include "util/error.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace softpack::artifacts {

struct PublishRequest {
  spec::EnvironmentSpec spec;
  std::string build_id;
  bool success = false;
  std::filesystem::path out_dir; // holds the files named by artifact_files(success)
};

struct PublishResult {
  std::string destination; // "git <url> <branch>"
  std::string reference;   // e.g. the commit id
};

class Publisher {
public:
  virtual ~Publisher() = default;
  // Publishing the same build twice must not create a second copy (a commit that changes
  // nothing is not made).
  virtual Expected<PublishResult> publish(const PublishRequest& request) = 0;
};

// The files of softpack-core's layout: all of them for a successful build, builder.out alone
// for a failed one (softpack-core marks the environment failed when it sees only that).
const std::vector<std::string>& artifact_files(bool success);

// "environments/users/foo/bar-1": where an environment's files live in the artifacts repo.
std::string environment_dir(const spec::EnvironmentSpec& spec);

} // namespace softpack::artifacts
