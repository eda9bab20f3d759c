#pragma once

// The files that make an environment usable on the cluster: the Tcl module file, one wrapper
// script per executable (running it inside the image), README.md, and the concrete
// softpack.yml that softpack-web shows. Rendering is pure; run_module_stage() is what the
// `module` job runs on the compute node (`softpack-builder stage-module --build-dir DIR`).

#include "render/template.hpp"
#include "spec/spec.hpp"
#include "util/error.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace softpack::artifacts {

struct ModuleInputs {
  spec::ValidSpec spec;
  std::vector<spec::Package> concrete;  // roots with concrete versions (from spack.lock)
  std::vector<std::string> executables; // in the image's view
  std::vector<std::string> exec_command{"singularity", "exec"};
  std::vector<std::string> dependencies; // modules to load first
  std::string scripts_dir;               // the site's scripts root
  std::string load_prefix;               // module name prefix
};

struct ModuleFiles {
  std::string module;
  std::string readme;
  std::string softpack_yml;
  std::map<std::string, std::string> wrappers; // executable name -> script
};

// <scripts_dir>/<path>/<name>/<version>-scripts: the directory the module puts on PATH.
std::string env_scripts_dir(const std::string& scripts_dir, const spec::EnvironmentSpec& spec);
// "<prefix>/<path>/<name>/<version>" (without the prefix when empty).
std::string module_name(const std::string& load_prefix, const spec::EnvironmentSpec& spec);

// The executables from `ls -1 <view>/bin` output: one per line, sorted, unique; names that are
// not plain file names ([A-Za-z0-9_.+-], not starting with '.') are left out and reported in
// `skipped`.
std::vector<std::string> parse_executables(std::string_view ls_output,
                                           std::vector<std::string>* skipped = nullptr);

Expected<ModuleFiles> render_module_files(const ModuleInputs& inputs,
                                          const render::TemplateSet& templates);

// Reads <build_dir>/build.json, out/spack.lock and out/executables; writes out/module,
// out/README.md, out/softpack.yml and out/scripts/<exe>.
Expected<void> run_module_stage(const std::filesystem::path& build_dir);

} // namespace softpack::artifacts
