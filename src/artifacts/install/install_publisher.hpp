#pragma once

// The shared-filesystem install: puts a successful build's module file where the site's
// MODULEPATH finds it and its image and wrapper scripts where the module file points.
//
//   <module_dir>/<path>/<name>/<version>                   the module file (0644)
//   <scripts_dir>/<path>/<name>/<version>-scripts/         0755
//       singularity.sif                                    hard link to out/, else a copy (0644)
//       <exe>                                              one wrapper per executable (0755)
//       .built_by_softpack                                 the build id (0644)
//
// An install is never replaced. The scripts directory is filled under a temporary name
// (.<version>-scripts.tmp-<build id>) and moved into place with renameat2(RENAME_NOREPLACE);
// the module file is written to a temporary file and link(2)ed to its name. The scripts
// directory comes first, so a module file never names an image that is not there. The marker
// lets a retry of the same build recognise its own install and complete what is missing;
// anything else at either path is refused. Modes are set explicitly, whatever the umask.

#include "artifacts/publisher.hpp"

#include <filesystem>
#include <string>

namespace softpack::artifacts {

struct InstallPublisherOptions {
  // The site's MODULEPATH entry.
  std::filesystem::path module_dir;
  // The scripts root, exactly as the module stage rendered it into module files and wrappers.
  std::string scripts_dir;
};

// Thread-compatible: one publish() at a time per build; different builds may run concurrently.
class InstallPublisher final : public Publisher {
public:
  explicit InstallPublisher(InstallPublisherOptions options);
  static constexpr std::string_view k_name = "install";
  std::string name() const override { return std::string(k_name); }
  bool publishes_failures() const override { return false; }
  // Reads out/module, out/singularity.sif and out/scripts/* (absent = no executables).
  // Errors: invalid_input when the install exists from another build or from someone else
  // ("<path> is already installed (by build X); remove it to reinstall") or when asked to
  // install a failed build; io for filesystem failures (what this attempt created is removed
  // first, so a retry starts clean).
  // Result: destination "install <module_dir>", reference the module file's path.
  Expected<PublishResult> publish(const PublishRequest& request) override;

  std::filesystem::path module_file(const spec::EnvironmentSpec& spec) const;
  std::filesystem::path scripts_dir(const spec::EnvironmentSpec& spec) const;

private:
  InstallPublisherOptions m_options;
};

// The marker's file name in an installed scripts directory; it holds the build id.
inline constexpr const char* k_install_marker = ".built_by_softpack";

} // namespace softpack::artifacts
