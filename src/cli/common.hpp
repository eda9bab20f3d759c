#pragma once

// What the command-line entry points share: exit codes, finding and checking the site
// configuration, and the token a client of the service sends.

#include "config/config.hpp"
#include "server/api.hpp"
#include "util/error.hpp"

#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
} // namespace CLI

namespace softpack::cli {

enum ExitCode : int {
  k_exit_ok = 0,
  k_exit_build_failed = 1, // the build ran and failed (or was cancelled)
  k_exit_bad_input = 2,    // bad spec, request or command line; the service refused the token
  k_exit_config = 3,       // bad site configuration
  k_exit_internal = 4,     // anything else: I/O, a command that could not run, a bug
};

int exit_code_for(const Error& error);

// For a validator on options that take a value: a message when `value` is an option ("--config")
// rather than a value, else "". CLI11 takes the word after an option as its value even then, so
// that "--dry-run --config X" would read the directory as "--config" and X as an unexpected
// argument.
std::string option_value_error(std::string_view value);
// Adds that check to every option of `app` and its subcommands that takes a value (call once
// all are defined), so that options can come in any order and a missing value is an error
// naming the option.
void refuse_options_as_values(CLI::App& app);

// --config FILE, else $SOFTPACK_BUILDER_CONFIG, else /etc/softpack-builder/config.yaml when it
// exists, else the built-in defaults; parsed against the backends table. Several errors come
// as one (config::combined_error).
Expected<config::Config> load_site_config(const std::optional<std::string>& path);

// The secrets `serve` reads besides its configuration file.
struct ServeSecrets {
  std::string api_token;                  // "" = mutating requests need no token
  std::string gitlab_token;               // "" = the webhook is off
  std::vector<server::NamedToken> tokens; // server.tokens, with their secrets read
};

// The site configuration (found as load_site_config finds it) checked as `serve` checks it
// before it starts, for `serve` and `check-config` alike: every error in the file; then, when
// the file could be read to its end, the secret files it names (server.api_token_file and
// server.gitlab_token_file, unless their variables are set; artifacts.credentials_file and
// artifacts.ssh_key_file: a file that is missing, unreadable or empty is an error), the
// listening address (an IP address, not a host name); and, when all
// that is right, the scheduler and destinations made as serve makes them (which reads the
// registry's credentials). Every error is ErrorKind::config; the ones about a key name it and
// where the file sets it.
struct SiteCheck {
  config::Config config; // valid only without errors
  ServeSecrets secrets;
  std::vector<Error> errors;
};
SiteCheck check_site(const std::optional<std::string>& path);

// The checks of check_site() after the file is read (secrets, address), appended to `errors`.
// Exposed for tests.
ServeSecrets check_serving(const config::Config& config, std::vector<Error>& errors);

// The URL of the service the configuration describes: http://<server.address>:<server.port>, an
// IPv6 address in brackets, and the wildcard addresses (0.0.0.0, ::) as this host's loopback.
std::string service_url(const config::Config& config);

// The bearer token a client of the service sends: the first line of --token-file FILE, else
// $SOFTPACK_API_TOKEN, else the configuration's server.api_token_file when this user can read
// it; "" for none. A --token-file that cannot be read or is empty is invalid_input.
Expected<std::string> client_token(const std::optional<std::string>& token_file,
                                   const config::Config& config);

} // namespace softpack::cli
