#pragma once

// The site configuration: a plain struct with in-class defaults, one comment per field, parsed
// from config/softpack-builder.yaml by parse_config(), which reports unknown keys and bad values
// with the key and the line.

#include "scheduler/scheduler.hpp"
#include "util/error.hpp"

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace softpack::config {

struct SlurmConfig {
  // Let Slurm requeue a stage's job after a node failure (--requeue); default --no-requeue.
  bool requeue = false;
  // Ask Slurm to send USR2 to the job script this long before its time limit
  // (--signal=B:USR2@<seconds>), so the script records the timeout itself. 0 = off.
  std::chrono::seconds timeout_signal{0};
  // Time limit for each Slurm command (sbatch, squeue, sacct, scancel).
  std::chrono::seconds command_timeout{60};
  // How many times a command that failed transiently (controller unreachable, socket timed
  // out) is retried, with backoff and jitter, before the caller sees a transient error.
  int retries = 3;
};

struct LsfConfig {
  // Time limit for each LSF command (bsub, bjobs, bhist, bkill).
  std::chrono::seconds command_timeout{60};
  // How many times a command that failed transiently (mbatchd busy or unreachable) is retried,
  // with backoff and jitter, before the caller sees a transient error.
  int retries = 3;
  // The site's LSF_UNIT_FOR_LIMITS (lsf.conf): KB (LSF's default), MB, GB, TB, PB, EB or ZB.
  // -M and the mem of -R are written in this unit (mem in -R in MB when it is KB).
  std::string unit_for_limits = "KB";
  // Whether bjobs is asked for JSON (-json, LSF 10.1.0.2 and later): auto (try, fall back to
  // delimited output when refused), true or false.
  std::string json = "auto";
  // Jobs go into the job group <job_group_root>/<build id> (bsub -g).
  std::string job_group_root = "/softpack";
};

struct SchedulerConfig {
  // Which backend runs the jobs: "local" (child processes of this program), "slurm" or "lsf".
  std::string backend = "local";
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
  // Slurm backend settings.
  SlurmConfig slurm;
  // LSF backend settings.
  LsfConfig lsf;
};

struct SpackConfig {
  // The spack command line, as a list (e.g. [/opt/spack/bin/spack]).
  std::vector<std::string> command{"spack"};
  // Processor target added to every spec as arch=None-None-<target>; empty = none.
  std::string target;
  // A custom Spack package repository (a directory), added under `repos:`; empty = none.
  std::string repo;
  // Spack's install tree inside the image.
  std::string install_tree = "/opt/software";
  // The environment's view inside the image; its bin/ lists the executables.
  std::string view = "/opt/view";
  // `spack containerize` base images: the OS image and the Spack version/image tag.
  std::string container_os = "ubuntu:22.04";
  std::string container_spack = "0.21.2";
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

struct RegistryConfig {
  // The OCI registry the image (.sif) is pushed to, as Apptainer's oras:// expects, with an
  // optional namespace: https://registry.example.org/softpack. http:// only for tests/loopback.
  // Required when `registry` is among publish.destinations.
  std::string url;
  // A file holding "username:password" for Basic auth or the Bearer token flow;
  // $SOFTPACK_REGISTRY_CREDENTIALS (same form), when set, wins. Empty = anonymous.
  std::string credentials_file;
  // CA bundle for https; empty = the system's.
  std::string ca_file;
  // Time limit for each request without progress (images are streamed, so a big push can take
  // longer in all).
  std::chrono::seconds timeout{300};
};

struct CoreConfig {
  // softpack-core's base URL (e.g. http://softpack-core:8000). Required when `core` is among
  // publish.destinations; the service also asks it to resend pending builds when it starts.
  std::string url;
  // Time limit of each request.
  std::chrono::seconds timeout{60};
};

struct PublishConfig {
  // Where a finished build is published: any of install, registry, git, core. They are
  // published in that order, each only after the ones before it succeeded, so the record
  // (git, core) never names an image or module that is not there yet.
  std::vector<std::string> destinations{"git"};
  // Backoff between attempts of a destination that failed: doubles from retry_initial up to
  // retry_max, with jitter.
  std::chrono::milliseconds retry_initial{std::chrono::seconds(30)};
  std::chrono::milliseconds retry_max{std::chrono::minutes(10)};
  // A destination still failing this long after its first failure is given up (the build
  // ends failed, its files stay in the build directory). 0 = never give up.
  std::chrono::seconds give_up_after{std::chrono::hours(24 * 7)};
};

struct ServerConfig {
  // Address (an IP address, not a host name) and port of the HTTP API (softpack-builder serve).
  std::string address = "127.0.0.1";
  int port = 7080;
  // A file holding the bearer token that mutating endpoints require; $SOFTPACK_API_TOKEN, when
  // set, wins. Empty = no token required.
  std::string api_token_file;
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
  RegistryConfig registry;
  CoreConfig core;
  PublishConfig publish;
  ServerConfig server;

  // Derived locations.
  std::filesystem::path builds_dir() const { return data_dir / "builds"; }
  std::string artifacts_repo() const;
  std::string scripts_dir() const;
  std::string module_dir() const;
  bool publishes_to(std::string_view destination) const;
  scheduler::Resources resources_for(const std::string& stage) const;
};

// The defaults with data_dir and templates_dir resolved.
Config default_config();

// Parses YAML text. Unknown keys, wrong types and bad values are errors naming the key path and
// `source_name:line`. Starts from default_config() and resolves a relative data_dir against the
// current directory, so it reads the environment and the filesystem; the overload below does not.
Expected<Config> parse_config(std::string_view text, std::string_view source_name);
// The pure form (no environment, filesystem or current directory): starts from `defaults` and
// resolves a relative data_dir against `working_dir` (an absolute path).
Expected<Config> parse_config(std::string_view text, std::string_view source_name,
                              const Config& defaults, const std::filesystem::path& working_dir);
Expected<Config> load_config(const std::filesystem::path& path);

// A secret: the environment variable when set, else the first line of the file (when a file
// is named), else empty. Errors name the file, never the secret.
Expected<std::string> read_secret(const char* env_var, const std::string& file);

// "250ms", "30s", "5m", "2h", "1d", plain seconds, or Slurm's "[D-]HH:MM:SS" / "MM:SS".
Expected<std::chrono::milliseconds> parse_duration(std::string_view text);
// "512M", "4G", "1T" or plain megabytes.
Expected<std::uint64_t> parse_memory_mb(std::string_view text);

} // namespace softpack::config
