#pragma once

// softpack-core, as go-softpack-builder talks to it: a finished build's files are uploaded with
// `POST {core}/upload?<path>/<name>-<version>` as multipart/form-data, one `file` part per
// artifact (softpack-core's basenames; builder.out alone for a failed build), and when the
// service starts it asks core to send again the builds it is still waiting for
// (`POST {core}/resend-pending-builds`).

#include "artifacts/git_reader.hpp"
#include "artifacts/publisher.hpp"
#include "util/http_client.hpp"
#include "util/yaml.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace softpack::artifacts {

// The settings of the core destination (the core section of the configuration).
struct CoreOptions {
  // softpack-core's base URL (e.g. http://softpack-core:8000). Required when `core` is among
  // publish.destinations; the service also asks it to resend pending builds when it starts.
  std::string url;
  // Time limit of each request.
  std::chrono::seconds timeout{60};
};

// Reads the core section: url (http(s), a host, no credentials, query or fragment) and timeout.
// Unknown keys are left for the caller's MapReader::finish().
Expected<CoreOptions> read_core_options(MapReader& section);

// "http://core:8000/upload?users/alice/my-env-1".
std::string core_upload_url(const std::string& base_url, const spec::EnvironmentSpec& spec);

// Whether softpack-core already holds exactly these files of the build: the commit that has
// them, or nullopt. softpack-core answers an upload that changes nothing with a 500, so an upload
// it committed but whose answer was lost (a timeout, a restart of the builder) could otherwise
// never be confirmed. nullptr = cannot tell.
using CoreHasFiles = std::function<Expected<std::optional<std::string>>(const PublishRequest&)>;

// A CoreHasFiles that reads softpack-core's artifacts repository (`repository`, its `branch`)
// through a mirror of its own: every file of the upload is in the environment's directory at
// the branch's tip, byte for byte. Serialised: one check at a time.
CoreHasFiles core_repository_check(CommandRunner& runner, GitReaderOptions repository,
                                   std::string branch);

class CorePublisher final : public Publisher {
public:
  explicit CorePublisher(CoreOptions options, HttpTransport transport = http_perform,
                         CoreHasFiles has_files = nullptr);
  static constexpr std::string_view k_name = "core";
  std::string name() const override { return std::string(k_name); }
  Expected<PublishResult> publish(const PublishRequest& request) override;

private:
  CoreOptions m_options;
  HttpTransport m_transport;
  CoreHasFiles m_has_files;
};

// Asks softpack-core to resend its pending builds. An error says why (unreachable, HTTP status).
Expected<void> resend_pending_builds(const CoreOptions& options,
                                     const HttpTransport& transport = http_perform);

} // namespace softpack::artifacts
