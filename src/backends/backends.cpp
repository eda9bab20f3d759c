#include "backends/backends.hpp"

#include "artifacts/core/core_upload.hpp"
#include "artifacts/git/git_publisher.hpp"
#include "artifacts/install/install_publisher.hpp"
#include "artifacts/registry/oci_registry.hpp"
#include "scheduler/local/local_executor.hpp"
#include "scheduler/lsf/lsf_scheduler.hpp"
#include "scheduler/slurm/slurm_scheduler.hpp"

#include <spdlog/spdlog.h>

namespace softpack::backends {

namespace {

// ---- schedulers

Expected<std::unique_ptr<scheduler::Scheduler>> make_local(const Context& context,
                                                           const std::any&) {
  scheduler::LocalExecutorOptions options;
  options.max_running = context.config.scheduler.local_max_running;
  return std::unique_ptr<scheduler::Scheduler>(
      std::make_unique<scheduler::LocalExecutor>(context.io, options));
}

// A scheduler adapter made from its settings and the command runner.
template <typename Adapter, typename Options>
Expected<std::unique_ptr<scheduler::Scheduler>> make_with_runner(const Context& context,
                                                                 const std::any& settings) {
  auto options = settings_as<Options>(settings);
  if (!options) {
    return options.error();
  }
  return std::unique_ptr<scheduler::Scheduler>(
      std::make_unique<Adapter>(context.runner, std::move(*options)));
}

// ---- destinations

Expected<std::unique_ptr<artifacts::Publisher>> make_install(const Context& context,
                                                             const std::any&) {
  artifacts::InstallPublisherOptions o;
  o.module_dir = std::filesystem::absolute(context.config.module_dir());
  o.scripts_dir = context.config.scripts_dir();
  return std::unique_ptr<artifacts::Publisher>(std::make_unique<artifacts::InstallPublisher>(o));
}

// A row's reader for a destination that needs its service's URL (`url`) when it is selected.
template <typename T, Expected<T> (*Read)(MapReader&)>
Expected<std::any> read_needing_url(const config::SectionContext& context) {
  auto o = Read(context.section);
  if (!o) {
    return o.error();
  }
  if (context.selected && o->url.empty()) {
    return context.selection_error("'" + context.section.prefix() + "' needs " +
                                   context.section.key_path("url"));
  }
  return std::any(std::move(*o));
}

// The settings of such a destination, for its factory (a Config made by hand may lack the URL).
template <typename T>
Expected<T> settings_with_url(const std::any& settings, std::string_view section) {
  auto o = settings_as<T>(settings);
  if (o && o->url.empty()) {
    return make_error(ErrorKind::config,
                      "the " + std::string(section) + " destination needs " + std::string(section) +
                          ".url",
                      "publish.destinations");
  }
  return o;
}

Expected<std::unique_ptr<artifacts::Publisher>> make_registry(const Context&,
                                                              const std::any& settings) {
  auto o = settings_with_url<artifacts::RegistryOptions>(settings, "registry");
  if (!o) {
    return o.error();
  }
  auto with_credentials = artifacts::with_registry_credentials(std::move(*o));
  if (!with_credentials) {
    return with_credentials.error();
  }
  return std::unique_ptr<artifacts::Publisher>(
      std::make_unique<artifacts::RegistryPublisher>(std::move(*with_credentials)));
}

// The git destination publishes to the artifacts repository of the general settings (the
// webhook reads the same repository), so it has no section of its own.
Expected<std::unique_ptr<artifacts::Publisher>> make_git(const Context& context, const std::any&) {
  const config::Config& config = context.config;
  artifacts::GitPublisherOptions git;
  git.remote = config.artifacts_repo();
  git.create_remote = config.artifacts.repo.empty();
  git.branch = config.artifacts.branch;
  git.author_name = config.artifacts.author_name;
  git.author_email = config.artifacts.author_email;
  git.mirror_dir = std::filesystem::absolute(config.data_dir / "artifacts-mirror.git");
  git.credentials_file = config.artifacts.credentials_file;
  git.ssh_key_file = config.artifacts.ssh_key_file;
  return std::unique_ptr<artifacts::Publisher>(
      std::make_unique<artifacts::GitPublisher>(context.runner, std::move(git)));
}

// With artifacts.repo set (softpack-core's repository), an upload that core refuses is checked
// against it: core answers an upload that changes nothing with a 500.
Expected<std::unique_ptr<artifacts::Publisher>> make_core(const Context& context,
                                                          const std::any& settings) {
  auto o = settings_with_url<artifacts::CoreOptions>(settings, "core");
  if (!o) {
    return o.error();
  }
  const config::Config& config = context.config;
  artifacts::CoreHasFiles has_files;
  if (!config.artifacts.repo.empty()) {
    artifacts::GitReaderOptions repository;
    repository.remote = config.artifacts.repo;
    repository.mirror_dir = std::filesystem::absolute(config.data_dir / "core-check-mirror.git");
    repository.credentials_file = config.artifacts.credentials_file;
    repository.ssh_key_file = config.artifacts.ssh_key_file;
    has_files =
        artifacts::core_repository_check(context.runner, repository, config.artifacts.branch);
  }
  return std::unique_ptr<artifacts::Publisher>(std::make_unique<artifacts::CorePublisher>(
      std::move(*o), http_perform, std::move(has_files)));
}

// ---- default destinations: core when its URL is set (it writes its repository itself), git
// otherwise; install and registry when they are configured.

bool core_configured(const config::Config& config) {
  const std::any* s = config::backend_settings(config, artifacts::CorePublisher::k_name);
  const auto* o = s ? std::any_cast<artifacts::CoreOptions>(s) : nullptr;
  return o && !o->url.empty();
}

bool install_configured(const config::Config& config) {
  return !config.module.module_dir.empty();
}

bool registry_configured(const config::Config& config) {
  const std::any* s = config::backend_settings(config, artifacts::RegistryPublisher::k_name);
  const auto* o = s ? std::any_cast<artifacts::RegistryOptions>(s) : nullptr;
  return o && !o->url.empty();
}

bool git_by_default(const config::Config& config) {
  return !core_configured(config);
}

constexpr std::string_view k_git_and_core =
    "softpack-core commits what is uploaded to it into the artifacts repository and pushes "
    "without fetching, so a second writer makes its pushes fail; with core, use core alone";

// softpack-core sends again the builds it still waits for, whether or not the builder uploads
// to it (it may take the artifacts from the git repository).
void core_service_started(const std::any& settings) {
  const auto* o = std::any_cast<artifacts::CoreOptions>(&settings);
  if (!o || o->url.empty()) {
    return;
  }
  if (auto r = artifacts::resend_pending_builds(*o); !r) {
    spdlog::warn("asking softpack-core to resend pending builds failed: {}", r.error().describe());
  } else {
    spdlog::info("asked softpack-core to resend pending builds ({})", o->url);
  }
}

// The settings of a row: the configuration's, or the row's defaults (its reader given an
// absent section) for a configuration not parsed against this table.
template <typename Row>
Expected<std::any> settings_of(const Row& row, const config::Config& config) {
  if (const std::any* s = config::backend_settings(config, row.name)) {
    return *s;
  }
  if (!row.read_config_section) {
    return std::any();
  }
  static const YamlNode k_absent;
  MapReader section(k_absent, "(defaults)", std::string(row.section));
  const config::SectionContext context{section, false, config, k_absent, {}, nullptr, {}};
  return row.read_config_section(context);
}

config::BackendEntry entry_of(const SchedulerRow& r) {
  return {.name = r.name,
          .section = r.section,
          .read = r.read_config_section,
          .is_default = r.is_default,
          .takes_qos = r.takes_qos,
          .managed_options = r.managed_options};
}

config::BackendEntry entry_of(const DestinationRow& r) {
  return {.name = r.name,
          .section = r.section,
          .read = r.read_config_section,
          .default_when = r.default_when,
          .excludes = r.excludes,
          .excludes_why = r.excludes_why};
}

} // namespace

const Table& builtin() {
  using namespace artifacts;
  using namespace scheduler;
  static const Table table{
      {
          {.name = LocalExecutor::k_name, .make = make_local, .is_default = true},
          {.name = slurm::SlurmScheduler::k_name,
           .section = "scheduler.slurm",
           .read_config_section = read_section<slurm::SlurmOptions, slurm::read_slurm_options>,
           .make = make_with_runner<slurm::SlurmScheduler, slurm::SlurmOptions>,
           .managed_options = slurm::sbatch_managed_options()},
          {.name = lsf::LsfScheduler::k_name,
           .section = "scheduler.lsf",
           .read_config_section = read_section<lsf::LsfOptions, lsf::read_lsf_options>,
           .make = make_with_runner<lsf::LsfScheduler, lsf::LsfOptions>,
           .takes_qos = false,
           .managed_options = lsf::bsub_managed_options()},
      },
      {
          {.name = InstallPublisher::k_name,
           .make = make_install,
           .default_when = install_configured},
          {.name = RegistryPublisher::k_name,
           .section = "registry",
           .read_config_section = read_needing_url<RegistryOptions, read_registry_options>,
           .make = make_registry,
           .default_when = registry_configured},
          {.name = GitPublisher::k_name,
           .make = make_git,
           .default_when = git_by_default,
           .excludes = CorePublisher::k_name,
           .excludes_why = k_git_and_core},
          {.name = CorePublisher::k_name,
           .section = "core",
           .read_config_section = read_needing_url<CoreOptions, read_core_options>,
           .make = make_core,
           .default_when = core_configured,
           .on_service_start = core_service_started},
      },
  };
  return table;
}

config::Schema Table::schema() const {
  config::Schema s;
  for (const auto& r : schedulers) {
    s.schedulers.push_back(entry_of(r));
  }
  for (const auto& r : destinations) {
    s.destinations.push_back(entry_of(r));
  }
  return s;
}

Expected<config::Config> parse_config(std::string_view text, std::string_view source_name,
                                      const Table& table) {
  return config::parse_config(text, source_name, table.schema());
}

Expected<config::Config> load_config(const std::filesystem::path& path, const Table& table) {
  return config::load_config(path, table.schema());
}

std::vector<artifacts::Publisher*> Made::publishers() const {
  std::vector<artifacts::Publisher*> out;
  for (const auto& p : destinations) {
    out.push_back(p.get());
  }
  return out;
}

Expected<Made> make(const Context& context, const Table& table) {
  const config::Config& config = context.config;
  Made made;
  const SchedulerRow* scheduler_row = nullptr;
  for (const auto& row : table.schedulers) {
    if (config.scheduler.backend.empty() ? row.is_default : row.name == config.scheduler.backend) {
      scheduler_row = &row;
    }
  }
  if (!scheduler_row) {
    return make_error(ErrorKind::config,
                      "unknown scheduler backend '" + config.scheduler.backend + "'",
                      "scheduler.backend");
  }
  auto settings = settings_of(*scheduler_row, config);
  if (!settings) {
    return settings.error();
  }
  auto scheduler = scheduler_row->make(context, *settings);
  if (!scheduler) {
    return scheduler.error();
  }
  made.scheduler = std::move(*scheduler);

  for (const auto& name : config.publish.destinations) {
    bool known = false;
    for (const auto& row : table.destinations) {
      known = known || row.name == name;
    }
    if (!known) {
      return make_error(ErrorKind::config, "unknown publish destination '" + name + "'",
                        "publish.destinations");
    }
  }
  // In the table's order, which is the publishing order.
  for (const auto& row : table.destinations) {
    const bool selected = config.publish.destinations.empty()
                              ? row.default_when && row.default_when(config)
                              : config.publishes_to(row.name);
    if (!selected) {
      continue;
    }
    if (!row.excludes.empty() && config.publishes_to(row.excludes)) {
      return make_error(ErrorKind::config,
                        "'" + std::string(row.name) + "' and '" + std::string(row.excludes) +
                            "' may not be used together: " + std::string(row.excludes_why),
                        "publish.destinations");
    }
    auto s = settings_of(row, config);
    if (!s) {
      return s.error();
    }
    auto publisher = row.make(context, *s);
    if (!publisher) {
      return publisher.error();
    }
    made.destinations.push_back(std::move(*publisher));
  }
  return made;
}

void service_started(const config::Config& config, const Table& table) {
  for (const auto& row : table.destinations) {
    if (!row.on_service_start) {
      continue;
    }
    if (auto s = settings_of(row, config)) {
      row.on_service_start(*s);
    }
  }
}

} // namespace softpack::backends
