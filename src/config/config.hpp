#pragma once

// The site configuration: a plain struct with in-class defaults, one comment per field, parsed
// from config/softpack-builder.yaml by parse_config(), which reports unknown keys and bad values
// with the key and the line.
//
// The settings of each backend (scheduler or publish destination) belong to the backend: its
// section is read by the backend's own function, named in the backends table
// (src/backends/backends.cpp) and handed to parse_config() as a Schema. The results are kept
// here by backend name, opaque to everything but that backend's row.

#include "scheduler/scheduler.hpp"
#include "util/error.hpp"
#include "util/net.hpp"
#include "util/yaml.hpp"

#include <any>
#include <chrono>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace softpack::config {

struct SchedulerConfig {
  // Which backend runs the jobs, by its name in the backends table: local (child processes of
  // this program), slurm or lsf. Empty = the table's default (local).
  std::string backend;
  // How often all tracked jobs are polled (one scheduler query for all of them).
  std::chrono::seconds poll_interval{30};
  // The shortest interval, used right after a state change.
  std::chrono::milliseconds min_poll_interval{1000};
  // How long a job may be missing from the scheduler with no result file before it is `lost`.
  std::chrono::seconds lost_grace{120};
  // Local backend: how many jobs run at once.
  int local_max_running = 2;
  // Resources every stage gets unless `stages.<name>` says otherwise.
  scheduler::Resources defaults;
  // Per-stage resources, by stage name (concretize, build, module); unset fields take defaults.
  std::map<std::string, scheduler::Resources> stages;
};

// A Spack binary cache (mirror) the image's build installs from: a file://, s3:// or oci:// URL,
// or an http(s):// one that is only read. What a build makes is pushed to the first with push.
struct BinaryCache {
  std::string url;
  bool push = true;
};

// A spack.repo that is a git URL (scheme://... or user@host:path) rather than a directory.
bool is_git_url(std::string_view repo);

struct SpackConfig {
  // The spack command line on the submit host, as a list (e.g. [/opt/spack/bin/spack]).
  std::vector<std::string> command{"spack"};
  // Processor target added to every spec as arch=None-None-<target>; empty = none.
  std::string target;
  // A custom Spack package repository, added under `repos:`: a directory, copied into the image,
  // or a git URL, cloned in the concretize stage and in the image at one commit; empty = none.
  std::string repo;
  // The branch or tag of a git `repo` whose commit a build uses; empty = the remote's HEAD.
  std::string repo_ref;
  // Spack's cache (SPACK_USER_CACHE_PATH) for the concretize and build stages, shared by all
  // builds; it must be writable by the jobs' user. Empty = <data_dir>/spack-cache.
  std::string cache_dir;
  // The recipe's images: the build stage's (with Spack at /opt/spack) and the final one.
  std::string build_image = "spack/ubuntu-jammy:0.21.2";
  std::string final_image = "ubuntu:22.04";
  // Binary caches, in the order Spack tries them.
  std::vector<BinaryCache> binary_caches;
  // Caches are unsigned: install with --no-check-signature, push with --unsigned. Otherwise the
  // caches' keys are trusted (buildcache keys --install --trust) and pushes are signed with the
  // build image's key.
  bool unsigned_caches = false;
  // The image's install tree is padded to this length, so that cached binaries relocate.
  int padded_length = 128;
};

struct ContainerConfig {
  // Builds the image: the definition file and the image path are appended.
  std::vector<std::string> build_command{"singularity", "build", "--fakeroot"};
  // Runs a command in the image (wrappers, listing executables): image and command appended.
  std::vector<std::string> exec_command{"singularity", "exec"};
};

struct ModuleConfig {
  // Modules the generated module file loads first (e.g. ISG/singularity).
  std::vector<std::string> dependencies;
  // Where wrapper scripts are installed; the module prepends
  // <scripts_dir>/<path>/<name>/<version>-scripts to PATH. Empty = <data_dir>/installs/scripts.
  std::string scripts_dir;
  // Prefix of the name users load: `module load <load_prefix>/<path>/<name>/<version>`.
  std::string load_prefix;
  // The `install` destination puts module files under this directory (the site's MODULEPATH
  // entry): <module_dir>/<path>/<name>/<version>. Empty = <data_dir>/installs/modules.
  std::string module_dir;
};

struct JobsConfig {
  // PATH inside every job script.
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  // Extra variables exported by every job script (values must not be secrets: scripts are
  // readable on the shared filesystem).
  std::map<std::string, std::string> environment;
  // The softpack-builder executable as seen from the compute nodes (the module stage runs
  // `softpack-builder stage-module`). Empty = the executable of the running program.
  std::string builder_command;
};

struct ArtifactsConfig {
  // The artifacts git repository (any URL git understands). Empty = a bare repository at
  // <data_dir>/artifacts.git, created on first use.
  std::string repo;
  // The branch builds are committed to.
  std::string branch = "main";
  // Commit author.
  std::string author_name = "softpack-builder";
  std::string author_email = "softpack-builder@localhost";
  // Credentials for an https remote, in git-credential-store format (one
  // https://user:token@host line per host). Never put credentials in `repo` itself.
  std::string credentials_file;
  // Private key for an ssh remote (used with IdentitiesOnly, BatchMode). Empty = ssh's own
  // configuration and agent.
  std::string ssh_key_file;
};

struct PublishConfig {
  // Where a finished build is published, by name in the backends table: any of install,
  // registry, git, core. They are published in the table's order (that one), each only after
  // the ones before it succeeded, so the record (git, core) never names an image or module that
  // is not there yet. parse_config() puts them in that order; none given = the table's defaults:
  // [core] when core.url is set, else [git], plus install when module.module_dir is set and
  // registry when registry.url is. git and core together are refused (core commits what is
  // uploaded, and a second writer breaks its pushes).
  std::vector<std::string> destinations;
  // Backoff between attempts of a destination that failed: doubles from retry_initial up to
  // retry_max, with jitter.
  std::chrono::milliseconds retry_initial{std::chrono::seconds(30)};
  std::chrono::milliseconds retry_max{std::chrono::minutes(10)};
  // A destination still failing this long after its first failure is given up (the build
  // ends failed, its files stay in the build directory). 0 = never give up.
  std::chrono::seconds give_up_after{std::chrono::hours(24 * 7)};
};

// 127.0.0.0/8 and ::1: softpack-core on the same host.
std::vector<IpNetwork> default_core_clients();

// A bearer token for a service or script (server.tokens): its name (recorded as who asked), the
// file holding the secret, and what it may do ("build", "cancel", "read", "all").
struct ServiceToken {
  std::string name;
  std::string file;
  std::vector<std::string> routes;
};

// At most `requests` mutating requests per user in any `per` (server.user_rate_limit "30/1m").
struct RateLimitConfig {
  int requests = 0; // 0 = no limit
  std::chrono::seconds per{60};
};

struct ServerConfig {
  // Address (an IP address, not a host name) and port of the HTTP API (softpack-builder serve).
  std::string address = "127.0.0.1";
  int port = 7080;
  // A file holding the bearer token that mutating endpoints require; $SOFTPACK_API_TOKEN, when
  // set, wins. Empty = no token required.
  std::string api_token_file;
  // Networks (CIDR, or single addresses) from which POST /environments/build needs no token:
  // where softpack-core runs, which sends none. Default: loopback. Empty = none.
  std::vector<IpNetwork> core_clients = default_core_clients();
  // A file holding the secret GitLab sends as X-Gitlab-Token; $SOFTPACK_GITLAB_TOKEN wins.
  // Empty = the webhook endpoint is off.
  std::string gitlab_token_file;
  // Largest request body accepted.
  std::uint64_t max_body_bytes = 1 << 20;
  // Read and write timeouts of each request.
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds write_timeout{30};
  // Builds running at once; more wait, durably, in state `queued`, and start in order.
  int max_builds_in_flight = 10;

  // Identity (docs/operations.md, "Security"). A Unix-domain socket whose callers are
  // identified by SO_PEERCRED ("" = none), and the mode its file gets.
  std::string socket;
  int socket_mode = 0666;
  // Accept Authorization: MUNGE <credential> on TCP, decoded by munged at munge_socket ("" =
  // libmunge's default); sp-submit asks for credentials that live munge_ttl.
  bool munge = false;
  std::string munge_socket;
  std::chrono::seconds munge_ttl{60};
  // With identity on, core_clients may not cover this host's own addresses (every local user's)
  // unless this says that nobody logs into this host.
  bool core_clients_trust_local = false;
  // Named bearer tokens for services and scripts (api_token_file is the token "api", all routes).
  std::vector<ServiceToken> tokens;
  // Users and groups that may build, rebuild and cancel anywhere.
  std::vector<std::string> admin_users;
  std::vector<std::string> admin_groups;
  // Builds in flight per user (0 = no limit); more wait, durably, with the reason shown. Builds
  // from softpack-core, the webhook or tokens do not count.
  int max_builds_per_user = 0;
  RateLimitConfig user_rate_limit{30, std::chrono::seconds(60)};

  // Identity is on: callers are users, not only services.
  bool identity_on() const { return !socket.empty() || munge; }
};

struct Config {
  // Where builds, state and the default artifacts repository live. Default: ./var, or
  // $XDG_STATE_HOME/softpack-builder when XDG_STATE_HOME is set. Relative paths are relative to
  // the working directory.
  std::filesystem::path data_dir;
  // Where the mustache templates are. Empty = the source tree's templates/ when present, else
  // <install prefix>/share/softpack-builder/templates.
  std::filesystem::path templates_dir;
  SchedulerConfig scheduler;
  SpackConfig spack;
  ContainerConfig container;
  ModuleConfig module;
  JobsConfig jobs;
  ArtifactsConfig artifacts;
  PublishConfig publish;
  ServerConfig server;
  // Each backend's settings, by backend name, as its row's reader made them from its section
  // (registry:, core:, scheduler.slurm:, scheduler.lsf:); only that row knows the type. A
  // backend missing here (a Config not made by parse_config) reads its absent section, i.e.
  // takes its defaults.
  std::map<std::string, std::any, std::less<>> backend_settings;
  // Where the file sets each key, by key path ("server.api_token_file" -> "config.yaml:12"), for
  // errors found after parsing (a secret file that cannot be read). Empty for the defaults.
  std::map<std::string, std::string, std::less<>> locations;

  // Derived locations.
  std::filesystem::path builds_dir() const { return data_dir / "builds"; }
  std::string artifacts_repo() const;
  std::string scripts_dir() const;
  std::string module_dir() const;
  bool publishes_to(std::string_view destination) const;
  scheduler::Resources resources_for(const std::string& stage) const;
  // locations[key_path], or "" when the file does not set the key.
  std::string where(std::string_view key_path) const;
};

// What parse_config() needs to know of the backends: one entry per row of the backends table.
// A backend's section is read by its own function, through util/yaml's MapReader.
struct SectionContext {
  MapReader& section;       // the backend's section; an empty map when absent
  bool selected = false;    // whether the configuration uses the backend
  const Config& config;     // the general settings, read before any backend's
  const YamlNode& document; // the whole file, for checks whose errors point beyond the section
  // An error about the key that selected the backend (scheduler.backend, publish.destinations),
  // at its line.
  Error selection_error(const std::string& message) const;
  // Set by parse_config for selection_error().
  std::string selected_by;
  const YamlNode* selected_at = nullptr;
  std::string_view source;
};
// Reads a backend's section into its settings (any copyable type the backend's row knows).
using ReadSection = Expected<std::any> (*)(const SectionContext& context);

// Whether a destination is published to when the configuration names none, given the
// configuration with every backend's settings read.
using DefaultWhen = bool (*)(const Config& config);

struct BackendEntry {
  std::string_view name;
  std::string_view section = {}; // its key path ("scheduler.slurm", "registry"); "" = no section
  ReadSection read = nullptr;
  bool is_default = false; // schedulers: chosen when the configuration names none
  // Schedulers only: whether a QOS means anything to it (scheduler.defaults.qos), and the
  // options of its submission command it sets itself, which extra_args may not override.
  bool takes_qos = true;
  std::span<const std::string_view> managed_options = {};
  // Destinations only: chosen when the configuration names none (nullptr = never); a destination
  // that may not be published to together with this one, and why.
  DefaultWhen default_when = nullptr;
  std::string_view excludes = {};
  std::string_view excludes_why = {};
};

struct Schema {
  std::vector<BackendEntry> schedulers;
  std::vector<BackendEntry> destinations; // in publishing order
};

// The defaults with data_dir and templates_dir resolved (backends unresolved: see Config).
Config default_config();

// Parses YAML text. Unknown keys, wrong types and bad values are errors naming the key path and
// `source_name:line`; several are returned together (combined_error). Pure: starts from `defaults`
// and resolves a relative data_dir against `working_dir` (an absolute path). Fills in the default
// scheduler and destinations of `schema` when the text names none, and every backend's settings
// (backend_settings).
Expected<Config> parse_config(std::string_view text, std::string_view source_name,
                              const Schema& schema, const Config& defaults,
                              const std::filesystem::path& working_dir);

// The same, from the current directory and default_config() (so it reads the environment).
Expected<Config> parse_config(std::string_view text, std::string_view source_name,
                              const Schema& schema);

// What parse_config finds, with every error rather than the first, for check-config and serve.
struct CheckedConfig {
  // What could be read; a value that was wrong keeps its default. Valid only without errors.
  Config config;
  // In the order of their lines; each names its key and `source_name:line`.
  std::vector<Error> errors;
  // The whole document was read: `config` holds every value the file sets that is right (false
  // after a YAML syntax error, or an error after which the rest could not be read).
  bool complete = false;
};
CheckedConfig check_config(std::string_view text, std::string_view source_name,
                           const Schema& schema, const Config& defaults,
                           const std::filesystem::path& working_dir);
CheckedConfig check_config(std::string_view text, std::string_view source_name,
                           const Schema& schema);
// One error for several: the first, whose message goes on with a line for each other one
// (describe() lists them all). parse_config returns it.
Error combined_error(const std::vector<Error>& errors);
Expected<Config> load_config(const std::filesystem::path& path, const Schema& schema);

// The settings `config` holds for backend `name`, or nullptr.
const std::any* backend_settings(const Config& config, std::string_view name);

} // namespace softpack::config
