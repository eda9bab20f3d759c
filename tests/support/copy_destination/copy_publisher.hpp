#pragma once

// A publish destination that exists only for tests: it copies a build's files into a directory
// (<dir>/<path>/<name>-<version>/). It is added to a copy of the backends table with one row
// (see "backends: a destination added with one folder and one row" in
// tests/unit/test_backends_backends.cpp), to prove that adding a destination needs nothing
// else: no edit of src/.

#include "artifacts/publisher.hpp"
#include "util/yaml.hpp"

#include <filesystem>
#include <string_view>

namespace softpack::testing {

// The `copy` section of the configuration.
struct CopyOptions {
  // Where the files go; required when the destination is selected.
  std::filesystem::path dir;
  // Whether a failed build (builder.out) is copied too.
  bool failures = true;
};

Expected<CopyOptions> read_copy_options(MapReader& section);

class CopyPublisher final : public artifacts::Publisher {
public:
  static constexpr std::string_view k_name = "copy";
  explicit CopyPublisher(CopyOptions options) : m_options(std::move(options)) {}
  std::string name() const override { return std::string(k_name); }
  bool publishes_failures() const override { return m_options.failures; }
  // Refuses environments named "refused", to show a destination's say at submission.
  Expected<void> accepts(const spec::EnvironmentSpec& spec) const override;
  Expected<artifacts::PublishResult> publish(const artifacts::PublishRequest& request) override;

private:
  CopyOptions m_options;
};

} // namespace softpack::testing
