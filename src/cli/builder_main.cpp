#include "cli/builder_main.hpp"

#include "artifacts/module_files.hpp"
#include "cli/common.hpp"
#include "cli/serve.hpp"
#include "util/fs.hpp"
#include "util/http_client.hpp"

#include <iostream>

#include <CLI/CLI.hpp>

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

  auto* serve_cmd = app.add_subcommand("serve", "run the service (HTTP API, webhook, builds)");
  serve_cmd->add_option("--config", config_file, "site configuration (YAML)");

  std::string server_url, build_id;
  auto* status = app.add_subcommand("status", "show builds (or one build) of a running service");
  status->add_option("id", build_id, "a build id");
  status->add_option("--server", server_url, "the service's URL (default: from the config)");
  status->add_option("--config", config_file, "site configuration (YAML)");
  auto* cancel = app.add_subcommand("cancel", "cancel a build of a running service");
  cancel->add_option("id", build_id, "the build id")->required();
  cancel->add_option("--server", server_url, "the service's URL (default: from the config)");
  cancel->add_option("--config", config_file, "site configuration (YAML)");

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
  if (*serve_cmd) {
    auto c = load_site_config(config_file);
    if (!c) {
      std::cerr << "softpack-builder: " << c.error().describe() << "\n";
      return k_exit_config;
    }
    return serve(*c);
  }
  if (*status || *cancel) {
    auto c = load_site_config(config_file);
    if (!c) {
      std::cerr << "softpack-builder: " << c.error().describe() << "\n";
      return k_exit_config;
    }
    if (server_url.empty()) {
      server_url = "http://" + c->server.address + ":" + std::to_string(c->server.port);
    }
    std::map<std::string, std::string> headers;
    auto token = read_secret("SOFTPACK_API_TOKEN", c->server.api_token_file);
    if (token && !token->empty()) {
      headers["Authorization"] = "Bearer " + *token;
    }
    auto r = *cancel
                 ? http_request("DELETE", server_url + "/builds/" + build_id, {}, headers)
                 : http_request("GET",
                                server_url + (build_id.empty() ? "/builds" : "/builds/" + build_id),
                                {}, headers);
    if (!r) {
      std::cerr << "softpack-builder: " << r.error().describe() << "\n";
      return k_exit_internal;
    }
    std::cout << r->body << "\n";
    return r->status >= 200 && r->status < 300 ? k_exit_ok
           : r->status == 404                  ? k_exit_bad_input
                                               : k_exit_internal;
  }
  if (*version) {
    std::cout << "softpack-builder " << SOFTPACK_VERSION << "\n";
    return k_exit_ok;
  }
  return k_exit_bad_input;
}

} // namespace softpack::cli
