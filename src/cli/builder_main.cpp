#include "cli/builder_main.hpp"

#include "artifacts/module_files.hpp"
#include "cli/common.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

namespace softpack::cli {

int softpack_builder_main(int argc, char** argv) {
  CLI::App app{"softpack-builder: builds Spack environments as batch jobs"};
  app.require_subcommand(1);

  std::string build_dir;
  auto* stage_module =
      app.add_subcommand("stage-module", "write the module file, wrappers, README.md and "
                                         "softpack.yml of a build (run by the module job)");
  stage_module->add_option("--build-dir", build_dir, "the build directory")->required();

  std::optional<std::string> config_file;
  auto* check = app.add_subcommand("check-config", "parse the configuration and report errors");
  check->add_option("--config", config_file, "site configuration (YAML)");

  auto* version = app.add_subcommand("version", "print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? k_exit_ok : k_exit_bad_input;
  }

  if (*stage_module) {
    auto r = artifacts::run_module_stage(build_dir);
    if (!r) {
      std::cerr << "softpack-builder stage-module: " << r.error().describe() << "\n";
      return exit_code_for(r.error());
    }
    return k_exit_ok;
  }
  if (*check) {
    auto c = load_site_config(config_file);
    if (!c) {
      std::cerr << "softpack-builder: " << c.error().describe() << "\n";
      return k_exit_config;
    }
    std::cout << "configuration OK: backend " << c->scheduler.backend << ", data dir "
              << c->data_dir.string() << ", artifacts " << c->artifacts_repo() << "\n";
    return k_exit_ok;
  }
  if (*version) {
    std::cout << "softpack-builder " << SOFTPACK_VERSION << "\n";
    return k_exit_ok;
  }
  return k_exit_bad_input;
}

} // namespace softpack::cli
