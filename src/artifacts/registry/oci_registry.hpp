#pragma once

// Pushes a build's image (singularity.sif) to an OCI registry the way Apptainer/Singularity's
// `oras://` reads it back: the config blob `{}` (application/vnd.sylabs.sif.config.v1+json), one
// layer holding the .sif (application/vnd.sylabs.sif.layer.v1.sif, titled with its file name),
// and an OCI image manifest tagged with the environment's version, in the repository
// <namespace>/<path with dashes>/<name>, lowercased: users/Alice/My-Env version 1 ->
// softpack/users-alice/my-env:1.
//
// Blobs are uploaded monolithically (POST .../blobs/uploads/, then PUT <Location>&digest=...),
// skipped when a HEAD finds them, and streamed from disk: an image of several GB is never held
// in memory. Authentication follows the registry's WWW-Authenticate challenge: Basic with the
// configured credentials, or the Bearer token flow (a token from the challenge's realm, for its
// service and scope). Credentials never appear in messages.

#include "artifacts/publisher.hpp"
#include "util/http_client.hpp"
#include "util/yaml.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace softpack::artifacts {

// The settings of the registry destination (the registry section of the configuration).
struct RegistryOptions {
  // The OCI registry the image (.sif) is pushed to, as Apptainer's oras:// expects, with an
  // optional namespace: https://registry.example.org/softpack. http:// only for tests/loopback.
  // Required when `registry` is among publish.destinations.
  std::string url;
  // The credentials, from credentials_file or $SOFTPACK_REGISTRY_CREDENTIALS
  // (with_registry_credentials), never from the configuration file itself. Empty = anonymous
  // until the registry asks.
  std::string username;
  std::string password;
  // CA bundle for https; empty = the system's.
  std::string ca_file;
  // Time limit for each request without progress (images are streamed, so a big push can take
  // longer in all).
  std::chrono::seconds timeout{300};
  // A file holding "username:password" for Basic auth or the Bearer token flow;
  // $SOFTPACK_REGISTRY_CREDENTIALS (same form), when set, wins. Empty = anonymous.
  std::string credentials_file;
};

// Reads the registry section: url, credentials_file, ca_file, timeout. The URL must be http(s)
// with a host and no credentials, query or fragment. `required`: the url must be set. Unknown
// keys are left for the caller's MapReader::finish().
Expected<RegistryOptions> read_registry_options(MapReader& section);

// The options with username and password from $SOFTPACK_REGISTRY_CREDENTIALS or
// credentials_file ("username:password"; neither = anonymous). Errors (config) name the file
// or the variable, never the secret.
Expected<RegistryOptions> with_registry_credentials(RegistryOptions options);

struct RegistryLocation {
  std::string base;        // "https://host:port": where /v2/ lives
  std::string host;        // "host:port": for oras:// references
  std::string name_prefix; // "softpack" (the namespace), or empty
};

// Splits a registry URL. Errors (config) name `url`: not http(s), userinfo, query or fragment,
// a namespace that is not a valid repository path.
Expected<RegistryLocation> parse_registry_url(std::string_view url);

// "softpack/users-alice/my-env" for namespace "softpack" and users/Alice/My-Env: lowercased, the
// spec's path with '/' turned to '-'. Errors (invalid_input) when the result breaks the OCI
// distribution spec's name grammar ([a-z0-9]+ separated by '.', '_', '__' or dashes) or is longer
// than 255 characters; the message names the field of the spec.
Expected<std::string> registry_repository(std::string_view name_prefix,
                                          const spec::EnvironmentSpec& spec);
// The tag: the environment's version, checked against [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
Expected<std::string> registry_tag(const spec::EnvironmentSpec& spec);
// Both checks at once, for refusing a submission early.
Expected<void> check_registry_names(std::string_view name_prefix,
                                    const spec::EnvironmentSpec& spec);

struct BlobRef {
  std::string digest; // "sha256:<64 hex>"
  std::uint64_t size = 0;
};

// The image manifest (compact JSON, in a fixed order) for the config blob and the .sif layer.
std::string sif_manifest_json(const BlobRef& config, const BlobRef& layer,
                              std::string_view layer_title);

// One challenge of a WWW-Authenticate header: `Bearer realm="...",service="...",scope="..."`.
struct AuthChallenge {
  std::string scheme; // lowercase: "basic", "bearer"
  std::string realm;
  std::string service;
  std::string scope;
};
// Parses the header's first challenge. Errors (transient: a registry answer) when it is not one.
Expected<AuthChallenge> parse_www_authenticate(std::string_view header);
// The token of a token server's JSON answer ("token", or OAuth's "access_token").
Expected<std::string> parse_token_response(std::string_view body);

// Digest and size of a file, read in chunks.
Expected<BlobRef> file_blob(const std::filesystem::path& path);

class RegistryPublisher final : public Publisher {
public:
  static constexpr std::string_view k_name = "registry";
  // The URL is parsed here, once; its errors surface on every publish (and in config checks
  // beforehand).
  explicit RegistryPublisher(RegistryOptions options, HttpTransport transport = http_perform);
  std::string name() const override { return std::string(k_name); }
  bool publishes_failures() const override { return false; }
  // The environment's names must make a valid repository and tag in this registry.
  Expected<void> accepts(const spec::EnvironmentSpec& spec) const override;
  Expected<PublishResult> publish(const PublishRequest& request) override;

private:
  struct Session; // one publish: the repository and the authorization earned so far
  Expected<HttpResponse> send(Session& s, HttpRequest request, bool big = false);
  Expected<void> authorize(Session& s, const HttpResponse& challenge);
  Expected<void> push_blob(Session& s, const BlobRef& blob, const std::string& data,
                           const std::filesystem::path& file);
  static std::string resolve(const Session& s, const std::string& location);

  RegistryOptions m_options;
  Expected<RegistryLocation> m_location;
  HttpTransport m_transport;
};

} // namespace softpack::artifacts
