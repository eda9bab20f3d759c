#pragma once

// The one table of backends: every scheduler and every publish destination softpack-builder
// can use, each a row {name, where its settings are and the function that reads them, the
// factory that makes it}. Nothing else names a backend: the configuration is parsed against the
// table's schema (config::Schema), the composition roots make what the configuration selects
// from it, and what is special about a backend is a property of its row or of the object it
// makes (Publisher::reference_is_record, Publisher::accepts, ...).
//
// Adding a backend is one new folder (the adapter, its settings struct and its section reader,
// under scheduler/ or artifacts/) and one row here; docs/architecture.md has the steps.

#include "artifacts/publisher.hpp"
#include "config/config.hpp"
#include "scheduler/scheduler.hpp"
#include "util/command.hpp"

#include <any>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace softpack::backends {

// What a factory may use: the event loop (for backends that run on it), the command runner,
// and the site configuration (its general settings; the backend's own come separately).
struct Context {
  boost::asio::io_context& io;
  CommandRunner& runner;
  const config::Config& config;
};

using MakeScheduler = Expected<std::unique_ptr<scheduler::Scheduler>> (*)(const Context& context,
                                                                          const std::any& settings);
using MakePublisher = Expected<std::unique_ptr<artifacts::Publisher>> (*)(const Context& context,
                                                                          const std::any& settings);

struct SchedulerRow {
  std::string_view name;
  std::string_view section = {};                     // its settings' key path; "" = none
  config::ReadSection read_config_section = nullptr; // nullptr = no settings
  MakeScheduler make = nullptr;
  bool is_default = false; // the backend when the configuration names none
  bool takes_qos = true;   // whether scheduler.defaults.qos means anything to it
  std::span<const std::string_view> managed_options = {}; // submission options it sets itself
};

struct DestinationRow {
  std::string_view name;
  std::string_view section = {};
  config::ReadSection read_config_section = nullptr;
  MakePublisher make = nullptr;
  // Published to when the configuration names no destination (nullptr = never), judged on the
  // configuration with every backend's settings.
  config::DefaultWhen default_when = nullptr;
  // Run once when the service starts, off the event loop, with the row's settings, whether or
  // not the destination is selected; nullptr = nothing to do. Failures are only logged.
  void (*on_service_start)(const std::any& settings) = nullptr;
  // A destination that may not be selected together with this one, and why (a configuration
  // error at publish.destinations).
  std::string_view excludes = {};
  std::string_view excludes_why = {};
};

struct Table {
  std::vector<SchedulerRow> schedulers;
  std::vector<DestinationRow> destinations; // in publishing order

  // What config::parse_config needs to know of the rows.
  config::Schema schema() const;
};

// The backends this program has: local, slurm, lsf; install, registry, git, core.
const Table& builtin();

// The configuration, parsed against the table's schema (see config::parse_config).
Expected<config::Config> parse_config(std::string_view text, std::string_view source_name,
                                      const Table& table = builtin());
Expected<config::Config> load_config(const std::filesystem::path& path,
                                     const Table& table = builtin());

// What the configuration selects, made: the scheduler and the destinations in publishing order.
struct Made {
  std::unique_ptr<scheduler::Scheduler> scheduler;
  std::vector<std::unique_ptr<artifacts::Publisher>> destinations;
  // The destinations as the engine takes them.
  std::vector<artifacts::Publisher*> publishers() const;
};

// Makes the configured scheduler and destinations (credentials are read here, from the
// environment or the files the configuration names). Errors name the backend or its setting.
Expected<Made> make(const Context& context, const Table& table = builtin());

// Runs every destination row's on_service_start hook (see DestinationRow).
void service_started(const config::Config& config, const Table& table = builtin());

// A row's read_config_section from a backend's own reader of its section, which returns its
// settings struct T: read_section<SlurmOptions, read_slurm_options>.
template <typename T, Expected<T> (*Read)(MapReader&)>
Expected<std::any> read_section(const config::SectionContext& context) {
  auto settings = Read(context.section);
  if (!settings) {
    return settings.error();
  }
  return std::any(std::move(*settings));
}

// A row's settings as the type T its reader makes (for its factory); an internal error when
// they are not a T.
template <typename T> Expected<T> settings_as(const std::any& settings) {
  if (const T* t = std::any_cast<T>(&settings)) {
    return *t;
  }
  return make_error(ErrorKind::internal, "a backend's settings have the wrong type");
}

} // namespace softpack::backends
