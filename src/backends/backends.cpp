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

Expected<std::unique_ptr<artifacts::Publisher>> make_core(const Context&,
                                                          const std::any& settings) {
  auto o = settings_with_url<artifacts::CoreOptions>(settings, "core");
  if (!o) {
    return o.error();
  }
  return std::unique_ptr<artifacts::Publisher>(
      std::make_unique<artifacts::CorePublisher>(std::move(*o)));
}

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
  return {r.name, r.section, r.read_config_section, r.is_default, r.takes_qos, r.managed_options};
}

config::BackendEntry entry_of(const DestinationRow& r) {
  return {r.name, r.section, r.read_config_section, r.is_default, true, {}};
}

} // namespace

const Table& builtin() {
  static const Table table{
      {
          {scheduler::LocalExecutor::k_name, "", nullptr, make_local, true, true, {}},
          {scheduler::slurm::SlurmScheduler::k_name, "scheduler.slurm",
           read_section<scheduler::slurm::SlurmOptions, scheduler::slurm::read_slurm_options>,
           make_with_runner<scheduler::slurm::SlurmScheduler, scheduler::slurm::SlurmOptions>,
           false, true, scheduler::slurm::sbatch_managed_options()},
          {scheduler::lsf::LsfScheduler::k_name, "scheduler.lsf",
           read_section<scheduler::lsf::LsfOptions, scheduler::lsf::read_lsf_options>,
           make_with_runner<scheduler::lsf::LsfScheduler, scheduler::lsf::LsfOptions>, false, false,
           scheduler::lsf::bsub_managed_options()},
      },
      {
          {artifacts::InstallPublisher::k_name, "", nullptr, make_install},
          {artifacts::RegistryPublisher::k_name, "registry",
           read_needing_url<artifacts::RegistryOptions, artifacts::read_registry_options>,
           make_registry},
          {artifacts::GitPublisher::k_name, "", nullptr, make_git, true},
          {artifacts::CorePublisher::k_name, "core",
           read_needing_url<artifacts::CoreOptions, artifacts::read_core_options>, make_core, false,
           core_service_started},
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
    const bool selected =
        config.publish.destinations.empty() ? row.is_default : config.publishes_to(row.name);
    if (!selected) {
      continue;
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
