#include "cli/common.hpp"

#include "backends/backends.hpp"
#include "cli/wiring.hpp"
#include "server/http_server.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"

#include <cstdlib>
#include <filesystem>

#include <CLI/CLI.hpp>

namespace softpack::cli {

namespace {

// The file load_site_config reads; nullopt for the built-in defaults.
std::optional<std::filesystem::path> site_config_path(const std::optional<std::string>& path) {
  if (path) {
    return *path;
  }
  if (const char* env = std::getenv("SOFTPACK_BUILDER_CONFIG"); env && *env) {
    return env;
  }
  const std::filesystem::path system_config = "/etc/softpack-builder/config.yaml";
  if (std::filesystem::exists(system_config)) {
    return system_config;
  }
  return std::nullopt;
}

// An error about `key`, at the line that sets it.
Error key_error(const config::Config& config, std::string_view key, const std::string& message) {
  return make_error(ErrorKind::config, std::string(key) + ": " + message, config.where(key));
}

} // namespace

int exit_code_for(const Error& error) {
  switch (error.kind) {
  case ErrorKind::invalid_input:
  case ErrorKind::conflict:
    return k_exit_bad_input;
  case ErrorKind::config:
    return k_exit_config;
  default:
    return k_exit_internal;
  }
}

std::string option_value_error(std::string_view value) {
  if (value.size() > 1 && value[0] == '-') {
    return "expects a value, found the option '" + std::string(value) + "'";
  }
  return {};
}

void refuse_options_as_values(CLI::App& app) {
  const CLI::Validator not_an_option([](std::string& value) { return option_value_error(value); },
                                     "", "not an option");
  for (CLI::Option* o : app.get_options(
           [](CLI::Option* o) { return !o->get_positional() && o->get_type_size() > 0; })) {
    o->check(not_an_option);
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    refuse_options_as_values(*sub);
  }
}

Expected<config::Config> load_site_config(const std::optional<std::string>& path) {
  if (auto file = site_config_path(path)) {
    return backends::load_config(*file);
  }
  // The built-in defaults, with the backends' defaults filled in.
  return backends::parse_config("", "(defaults)");
}

ServeSecrets check_serving(const config::Config& config, std::vector<Error>& errors) {
  ServeSecrets secrets;
  if (auto ok = server::check_listen_address(config.server.address); !ok) {
    errors.push_back(key_error(config, "server.address", ok.error().message));
  }
  struct Secret {
    std::string_view key;
    const char* env_var;
    const std::string& file;
    std::string& out;
  };
  for (const Secret& s : {Secret{"server.api_token_file", "SOFTPACK_API_TOKEN",
                                 config.server.api_token_file, secrets.api_token},
                          Secret{"server.gitlab_token_file", "SOFTPACK_GITLAB_TOKEN",
                                 config.server.gitlab_token_file, secrets.gitlab_token}}) {
    auto value = read_secret(s.env_var, s.file);
    if (!value) {
      errors.push_back(
          key_error(config, s.key, value.error().describe() + " (or set $" + s.env_var + ")"));
    } else {
      s.out = std::move(*value);
    }
  }
  for (const auto& t : config.server.tokens) {
    auto value = read_secret_file(t.file);
    if (!value) {
      errors.push_back(
          key_error(config, "server.tokens", "token " + t.name + ": " + value.error().describe()));
    } else {
      secrets.tokens.push_back(server::NamedToken{t.name, std::move(*value), t.routes});
    }
  }
  // With identity on, users are told apart; an address every local user has would let any of
  // them build anywhere as softpack-core.
  if (config.server.identity_on() && !config.server.core_clients_trust_local) {
    auto local = local_addresses();
    for (const char* loopback : {"127.0.0.1", "::1"}) {
      local.push_back(*parse_ip_address(loopback));
    }
    if (auto covered = first_covering(config.server.core_clients, local)) {
      errors.push_back(key_error(
          config, "server.core_clients",
          covered->network + " covers " + covered->address +
              ", an address of this host and so of every local user: with identity on "
              "(server.socket or server.munge), set core_clients to softpack-core's own address "
              "or [], or set server.core_clients_trust_local: true if no users log into this "
              "host"));
    }
  }
  if (!config.server.socket.empty()) {
    const auto dir = std::filesystem::path(config.server.socket).parent_path();
    if (!std::filesystem::is_directory(dir)) {
      errors.push_back(key_error(config, "server.socket",
                                 "its directory " + dir.string() +
                                     " does not exist (systemd makes it with "
                                     "RuntimeDirectory=softpack-builder)"));
    }
  }
  // The files the artifacts repository is reached with, by the git destination and the
  // webhook: one that cannot be read would fail every publication and delivery, later.
  for (const auto& [key, file] :
       {std::pair<std::string_view, const std::string&>{"artifacts.credentials_file",
                                                        config.artifacts.credentials_file},
        {"artifacts.ssh_key_file", config.artifacts.ssh_key_file}}) {
    if (file.empty()) {
      continue;
    }
    auto text = read_file(file, 1 << 20);
    if (!text) {
      errors.push_back(key_error(config, key, text.error().describe()));
    } else if (trim(*text).empty()) {
      errors.push_back(key_error(config, key, file + ": the file is empty"));
    }
  }
  return secrets;
}

SiteCheck check_site(const std::optional<std::string>& path) {
  SiteCheck out;
  const auto schema = backends::builtin().schema();
  config::CheckedConfig checked;
  if (auto file = site_config_path(path)) {
    auto text = read_file(*file, 1 << 20);
    if (!text) {
      Error e = text.error();
      e.kind = ErrorKind::config;
      out.errors.push_back(std::move(e));
      return out;
    }
    checked = config::check_config(*text, file->string(), schema);
  } else {
    checked = config::check_config("", "(defaults)", schema);
  }
  out.config = std::move(checked.config);
  out.errors = std::move(checked.errors);
  if (!checked.complete) {
    return out;
  }
  out.secrets = check_serving(out.config, out.errors);
  if (out.errors.empty()) {
    // A configuration with errors would make backends from partly read settings, and report
    // what is only a consequence of those errors.
    if (auto wired = wire(out.config); !wired) {
      Error e = wired.error();
      e.kind = ErrorKind::config;
      out.errors.push_back(std::move(e));
    }
  }
  return out;
}

std::string service_url(const config::Config& config) {
  std::string host = config.server.address;
  if (host == "0.0.0.0") {
    host = "127.0.0.1";
  } else if (host == "::") {
    host = "::1";
  }
  if (host.find(':') != std::string::npos) {
    host = "[" + host + "]";
  }
  return "http://" + host + ":" + std::to_string(config.server.port);
}

Expected<std::string> client_token(const std::optional<std::string>& token_file,
                                   const config::Config& config) {
  if (token_file) {
    auto token = read_secret_file(*token_file);
    if (!token) {
      Error e = token.error();
      e.kind = ErrorKind::invalid_input;
      return e.with_context("--token-file");
    }
    return token;
  }
  // The service's own token file is the admins' fallback on its host; users cannot read it,
  // which is no error: they give --token-file or the variable, or need none.
  auto token = read_secret("SOFTPACK_API_TOKEN", config.server.api_token_file);
  return token ? *token : std::string();
}

} // namespace softpack::cli
