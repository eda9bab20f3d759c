#pragma once

// softpack-core, as go-softpack-builder talks to it: a finished build's files are uploaded with
// `POST {core}/upload?<path>/<name>-<version>` as multipart/form-data, one `file` part per
// artifact (softpack-core's basenames; builder.out alone for a failed build), and when the
// service starts it asks core to send again the builds it is still waiting for
// (`POST {core}/resend-pending-builds`).

#include "artifacts/publisher.hpp"
#include "util/http_client.hpp"

#include <chrono>
#include <string>

namespace softpack::artifacts {

struct CoreOptions {
  std::string url; // softpack-core's base URL, e.g. http://softpack-core:8000
  std::chrono::seconds timeout{60};
};

// "http://core:8000/upload?users/alice/my-env-1".
std::string core_upload_url(const std::string& base_url, const spec::EnvironmentSpec& spec);

class CorePublisher final : public Publisher {
public:
  explicit CorePublisher(CoreOptions options, HttpTransport transport = http_perform);
  std::string name() const override { return "core"; }
  Expected<PublishResult> publish(const PublishRequest& request) override;

private:
  CoreOptions m_options;
  HttpTransport m_transport;
};

// Asks softpack-core to resend its pending builds. An error says why (unreachable, HTTP status).
Expected<void> resend_pending_builds(const CoreOptions& options,
                                     const HttpTransport& transport = http_perform);

} // namespace softpack::artifacts
