#include "cli/builder_main.hpp"

#include "artifacts/module_files.hpp"
#include "cli/answers.hpp"
#include "cli/common.hpp"
#include "cli/serve.hpp"
#include "cli/service_client.hpp"
#include "cli/status_text.hpp"
#include "util/http_client.hpp"

#include <iostream>

#include <CLI/CLI.hpp>

namespace softpack::cli {

namespace {

// Prints every error of a site check; returns k_exit_config.
int report_errors(const std::vector<Error>& errors) {
  for (const auto& e : errors) {
    std::cerr << "softpack-builder: " << e.describe() << "\n";
  }
  if (errors.size() > 1) {
    std::cerr << "softpack-builder: " << errors.size() << " errors in the configuration\n";
  }
  return k_exit_config;
}

struct ClientOptions {
  std::optional<std::string> config_file;
  std::optional<std::string> token_file;
  std::string server_url;
  std::string build_id;
  bool json = false;
};

// status [ID] and cancel ID: one request to a running service.
int talk_to_service(const ClientOptions& o, bool cancel) {
  auto c = load_site_config(o.config_file);
  if (!c) {
    std::cerr << "softpack-builder: " << c.error().describe() << "\n";
    return k_exit_config;
  }
  auto token = client_token(o.token_file, *c);
  if (!token) {
    std::cerr << "softpack-builder: " << token.error().describe() << "\n";
    return exit_code_for(token.error());
  }
  // On the service's host, its socket (when it has one) says who we are without a credential;
  // a token (an admin's, a service's) goes over TCP.
  const std::string url = !o.server_url.empty()                         ? o.server_url
                          : token->empty() && !c->server.socket.empty() ? c->server.socket
                                                                        : service_url(*c);
  ServiceClient client(url, *token, *c);
  client.set_program("softpack-builder");
  const std::string path = o.build_id.empty() ? "/builds" : "/builds/" + o.build_id;
  auto r = client.request(cancel ? "DELETE" : "GET", path);
  if (!r) {
    std::cerr << "softpack-builder: " << r.error().describe() << "\n";
    return k_exit_internal;
  }
  if (r->status < 200 || r->status >= 300) {
    std::cerr << "softpack-builder: the service answered " << r->status << ": "
              << refusal_reason(r->body) << "\n";
    if (r->status == 401 || r->status == 403) {
      std::cerr << "softpack-builder: " << client.refusal_hint() << "\n";
      return k_exit_bad_input;
    }
    return r->status == 404 || r->status == 409 ? k_exit_bad_input : k_exit_internal;
  }
  if (cancel) {
    std::cout << "cancelling build " << o.build_id << "\n";
    return k_exit_ok;
  }
  if (o.json) {
    std::cout << r->body << "\n";
    return k_exit_ok;
  }
  if (o.build_id.empty()) {
    auto builds = parse_build_list(r->body);
    if (!builds) {
      std::cerr << "softpack-builder: " << builds.error().describe() << "\n";
      return k_exit_internal;
    }
    std::cout << builds_table(*builds);
    return k_exit_ok;
  }
  auto build = parse_build_view(r->body);
  if (!build) {
    std::cerr << "softpack-builder: " << build.error().describe() << "\n";
    return k_exit_internal;
  }
  std::cout << build_details(*build);
  return k_exit_ok;
}

} // namespace

int softpack_builder_main(int argc, char** argv) {
  CLI::App app{"softpack-builder: builds Spack environments as batch jobs"};
  app.require_subcommand(1);

  std::string build_dir;
  auto* stage_module =
      app.add_subcommand("stage-module", "write the module file, wrappers, README.md and "
                                         "softpack.yml of a build (run by the module job)");
  stage_module->add_option("--build-dir", build_dir, "the build directory")->required();

  std::optional<std::string> config_file;
  auto* check = app.add_subcommand(
      "check-config", "check the configuration as serve does (every error in the file, the "
                      "secret files it names, the listening address) and report every error");
  check->add_option("--config", config_file, "site configuration (YAML)");

  auto* version = app.add_subcommand("version", "print the version");

  auto* serve_cmd = app.add_subcommand("serve", "run the service (HTTP API, webhook, builds)");
  serve_cmd->add_option("--config", config_file, "site configuration (YAML)");

  ClientOptions client;
  auto* status = app.add_subcommand(
      "status", "show the builds of a running service as a table, or one build (ID) in full");
  auto* cancel = app.add_subcommand("cancel", "cancel a build of a running service");
  for (auto* cmd : {status, cancel}) {
    cmd->add_option("--server", client.server_url,
                    "the service's URL or Unix socket (default: without a token, the config's "
                    "server.socket when set; else server.address and server.port)");
    cmd->add_option("--config", client.config_file, "site configuration (YAML)");
    cmd->add_option("--token-file", client.token_file,
                    "a file holding the API token (default: $SOFTPACK_API_TOKEN, else the "
                    "config's server.api_token_file when readable)");
  }
  status->add_option("id", client.build_id, "a build id");
  status->add_flag("--json", client.json, "print the service's JSON instead");
  cancel->add_option("id", client.build_id, "the build id")->required();

  refuse_options_as_values(app);
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
    auto site = check_site(config_file);
    if (!site.errors.empty()) {
      return report_errors(site.errors);
    }
    const auto& c = site.config;
    std::cout << "configuration OK: backend " << c.scheduler.backend << ", data dir "
              << c.data_dir.string() << ", artifacts " << c.artifacts_repo() << ", listening on "
              << c.server.address << ":" << c.server.port << "\n";
    return k_exit_ok;
  }
  if (*serve_cmd) {
    auto site = check_site(config_file);
    if (!site.errors.empty()) {
      return report_errors(site.errors);
    }
    return serve(site.config, site.secrets);
  }
  if (*status || *cancel) {
    return talk_to_service(client, static_cast<bool>(*cancel));
  }
  if (*version) {
    std::cout << "softpack-builder " << SOFTPACK_VERSION << "\n";
    return k_exit_ok;
  }
  return k_exit_bad_input;
}

} // namespace softpack::cli
