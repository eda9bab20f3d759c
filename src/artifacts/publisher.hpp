#pragma once

// Publishing a finished build's artifacts somewhere softpack-core and users can see them. Each
// destination (shared-filesystem install, OCI registry, artifacts git repository, softpack-core
// upload) is one Publisher; the flow calls publish() from a worker thread once the build's jobs
// have all ended, records each destination's outcome durably, and retries failures with
// backoff until every destination has succeeded.

#include "spec/spec.hpp"
#include "util/error.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace softpack::artifacts {

struct PublishRequest {
  spec::ValidSpec spec;
  std::string build_id;
  bool success = false;
  std::filesystem::path out_dir; // holds the files named by artifact_files(success)
};

struct PublishResult {
  std::string destination; // where, for people: "git <url> <branch>" (no credentials)
  std::string reference;   // what was made: the commit id, the manifest digest, a path
};

class Publisher {
public:
  virtual ~Publisher() = default;
  // The destination's short, stable name: its key in the build status and the store
  // ("install", "registry", "git", "core").
  virtual std::string name() const = 0;
  // Whether a failed build is published here too (builder.out alone). Destinations of the
  // image and the module (registry, install) have nothing to publish for a failed build.
  virtual bool publishes_failures() const { return true; }
  // Whether this destination can take a build of `spec`: asked when a build is submitted, so
  // that one it would refuse is refused before anything is accepted. Errors are invalid_input
  // and name the spec's field. Must not block (no I/O).
  virtual Expected<void> accepts(const spec::EnvironmentSpec& spec) const {
    (void)spec;
    return {};
  }
  // Whether the reference this destination makes is the build's record, shown as the build's
  // published reference (the artifacts repository's commit). When no destination's is, the
  // last destination's reference is shown.
  virtual bool reference_is_record() const { return false; }
  // Must be idempotent: publishing the same build again after a success, or after a failure
  // at any point, must not create a second copy (a commit that changes nothing is not made; an
  // install already made by this build is accepted as done).
  // Errors: kind invalid_input means retrying cannot help (the destination refuses this build,
  // e.g. an install of the same version exists from another build); any other error is retried
  // with backoff.
  virtual Expected<PublishResult> publish(const PublishRequest& request) = 0;
};

// The files of softpack-core's layout, in the order they are uploaded: all of them for a
// successful build (module before builder.out), builder.out alone for a failed one
// (softpack-core marks the environment failed when it sees only that).
const std::vector<std::string>& artifact_files(bool success);

// "environments/users/foo/bar-1": where an environment's files live in the artifacts repo.
std::string environment_dir(const spec::EnvironmentSpec& spec);

// Checks a destination's service URL from the configuration: http(s), with a host, and no
// credentials, query or fragment. The error's message shows the URL, unless it holds
// credentials ("the URL has ...").
Expected<void> check_http_url(std::string_view url);

} // namespace softpack::artifacts
