#pragma once

// The environment a user asks for, in the two forms softpack uses, validated so that every
// field is safe to place in paths, job names, YAML and (quoted) shell.
//
// All parsers are pure. Their errors are ErrorKind::invalid_input; the message starts with the
// field ("packages[0]", "model.packages[1].version"; indexes are 0-based) and shows the offending
// value with control and non-ASCII bytes escaped. YAML errors carry "softpack.yml:7" as context.

#include "util/error.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace softpack::spec {

// Limits on what a user may ask for; anything larger is invalid_input.
inline constexpr std::size_t k_max_input_size = 1024 * 1024;     // bytes of softpack.yml or JSON
inline constexpr std::size_t k_max_description_size = 64 * 1024; // bytes of UTF-8
inline constexpr std::size_t k_max_packages = 1000;
inline constexpr std::size_t k_max_name_length = 100;   // environment and package names, owners
inline constexpr std::size_t k_max_version_length = 64; // environment and package versions

struct Package {
  std::string name;    // Spack package name: [a-z0-9][a-z0-9_-]*
  std::string version; // empty = let Spack choose; otherwise Spack version characters
  // "name" or "name@version"
  std::string to_spec() const;

  bool operator==(const Package&) const = default;
};

// The path's owner, the name and the version become path components, module names and command
// arguments, so they start with a letter, digit or '_' (never '.' or '-'), use only letters,
// digits, '_', '-' and (name, version) '.', and never contain "..".
struct EnvironmentSpec {
  std::string path;        // "users/<owner>" or "groups/<group>"
  std::string name;        // the environment's name, e.g. "my-env"
  std::string version;     // e.g. "1"
  std::string description; // free text; never placed anywhere unescaped
  std::vector<Package> packages;

  // "users/foo/bar-1": softpack-core's full environment name and artifacts subdirectory.
  std::string full_name() const;
  // "users" or "groups".
  std::string path_kind() const;
  // "foo": the user or group.
  std::string owner() const;

  bool operator==(const EnvironmentSpec&) const = default;
};

// A spec whose every field has been validated, made only where specs come in: the parsers below
// (a softpack.yml, softpack-core's request, the store's canonical JSON) or check(). Everything
// after that edge takes this type and validates nothing again. It also carries the spec's
// canonical JSON and its hash, computed once (the store keeps them; de-duplication compares
// them). Immutable and cheap to copy (shared).
class ValidSpec {
public:
  // An empty placeholder, for containers and structs filled in later; never the result of
  // validation, and not to be built or published.
  ValidSpec();
  // Validates every field (validate() below).
  static Expected<ValidSpec> check(EnvironmentSpec spec);

  const EnvironmentSpec& get() const { return m_data->spec; }
  const EnvironmentSpec* operator->() const { return &m_data->spec; }
  operator const EnvironmentSpec&() const { return m_data->spec; }
  // to_json(spec) and spec_hash(spec).
  const std::string& json() const { return m_data->json; }
  const std::string& hash() const { return m_data->hash; }

  bool operator==(const ValidSpec& other) const { return get() == other.get(); }

private:
  struct Data {
    EnvironmentSpec spec;
    std::string json;
    std::string hash;
  };
  // For a parser that has validated every field as it read it.
  static ValidSpec trusted(EnvironmentSpec spec);
  friend Expected<ValidSpec> parse_softpack_yml(std::string_view, std::string_view,
                                                std::string_view, std::string_view,
                                                std::string_view);
  std::shared_ptr<const Data> m_data;
};

// Validators, each naming `field` and the offending value in its error. Exposed for config and
// the webhook, which see the same names.
Expected<void> validate_path(std::string_view value, std::string_view field);
Expected<void> validate_name(std::string_view value, std::string_view field);
Expected<void> validate_version(std::string_view value, std::string_view field);
Expected<void> validate_package_name(std::string_view value, std::string_view field);
Expected<void> validate_package_version(std::string_view value, std::string_view field);
// Any valid UTF-8 without NUL, at most k_max_description_size bytes.
Expected<void> validate_description(std::string_view value, std::string_view field);
// Checks every field of a spec (ValidSpec::check calls this).
Expected<void> validate(const EnvironmentSpec& spec);

// Parses one Spack spec string from a softpack.yml, "xxhash", "xxhash@0.8.1", "py-numpy@1.26:"
// is refused (ranges are not concrete). `field` names it in errors ("packages[1]").
Expected<Package> parse_package_string(std::string_view text, std::string_view field);

// The softpack.yml a user writes:
//   description: |
//     multi-line text
//   packages:
//     - xxhash@0.8.1
//     - py-numpy
// `path`, `name` and `version` come from the command line or the artifacts repo location.
// `source_name` is used in errors ("softpack.yml:4: packages[1]: ...").
Expected<ValidSpec> parse_softpack_yml(std::string_view text, std::string_view source_name,
                                       std::string_view path, std::string_view name,
                                       std::string_view version);

// softpack-core's / go-softpack-builder's build request:
//   {"name": "users/<owner>/<env>", "version": "1",
//    "model": {"description": "...", "packages": [{"name": "xxhash", "version": "0.8.1"}]}}
Expected<ValidSpec> parse_build_request_json(std::string_view text);

// Splits "users/foo/bar" into path "users/foo" and name "bar".
Expected<std::pair<std::string, std::string>> split_full_path(std::string_view value,
                                                              std::string_view field);

// softpack-core's name for an environment's directory, "<name>-<version>" with a version of
// digits only (core's `^(.*)-(\d+)$`): "my-env-2" is {"my-env", "2"}; "my-env" (version "env"),
// "env-", "-1" and "env-1.0" are nullopt. The parts are not otherwise validated.
std::optional<std::pair<std::string, std::string>> split_versioned_name(std::string_view dir);

// Canonical JSON of a spec (stable key order): stored with a build, hashed for de-duplication.
std::string to_json(const EnvironmentSpec& spec);
Expected<ValidSpec> from_json(std::string_view text);
// Lowercase hex SHA-256 of to_json(spec).
std::string spec_hash(const EnvironmentSpec& spec);

} // namespace softpack::spec
