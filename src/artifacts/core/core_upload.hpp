#pragma once

// softpack-core, as go-softpack-builder talks to it: a finished build's files are uploaded with
// `POST {core}/upload?<path>/<name>-<version>` as multipart/form-data, one `file` part per
// artifact (softpack-core's basenames; builder.out alone for a failed build), and when the
// service starts it asks core to send again the builds it is still waiting for
// (`POST {core}/resend-pending-builds`).

#include "artifacts/publisher.hpp"
#include "util/http_client.hpp"
#include "util/yaml.hpp"

#include <chrono>
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

class CorePublisher final : public Publisher {
public:
  explicit CorePublisher(CoreOptions options, HttpTransport transport = http_perform);
  static constexpr std::string_view k_name = "core";
  std::string name() const override { return std::string(k_name); }
  Expected<PublishResult> publish(const PublishRequest& request) override;

private:
  CoreOptions m_options;
  HttpTransport m_transport;
};

// Asks softpack-core to resend its pending builds. An error says why (unreachable, HTTP status).
Expected<void> resend_pending_builds(const CoreOptions& options,
                                     const HttpTransport& transport = http_perform);

} // namespace softpack::artifacts
