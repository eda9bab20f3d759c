#pragma once

// The Slurm adapter: argv builders for sbatch/squeue/sacct/scancel, the parsers in
// slurm_parse.hpp, and retries. Polling is one `squeue` call for all ids given, plus one `sacct`
// call for those squeue no longer shows; cancelling is one `scancel` call.
//
// Thread-safe: it holds no mutable state besides counters.

#include "scheduler/batch_commands.hpp"
#include "scheduler/scheduler.hpp"
#include "util/command.hpp"
#include "util/time.hpp"
#include "util/yaml.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <span>
#include <string_view>

namespace softpack::scheduler::slurm {

// The settings of the Slurm backend (the scheduler.slurm section of the configuration).
struct SlurmOptions {
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
  // Not configurable: the first backoff, and how to wait between retries (tests replace it to
  // run instantly).
  std::chrono::milliseconds retry_base{500};
  std::function<void(std::chrono::milliseconds)> sleep;
  // The zone sacct's local times are read in: this host's, as for Slurm's commands run here.
  TimeZone time_zone = TimeZone::process_local();
};

// Reads the scheduler.slurm section (its keys are the fields above). Unknown keys are left for
// the caller's MapReader::finish().
Expected<SlurmOptions> read_slurm_options(MapReader& section);

// The sbatch options the adapter sets itself (a site's extra_args may not override them).
std::span<const std::string_view> sbatch_managed_options();

// Argv builders (pure).
std::vector<std::string> sbatch_argv(const JobSpec& spec, const SlurmOptions& options);
std::vector<std::string> squeue_argv(std::span<const JobId> ids);
std::vector<std::string> sacct_argv(std::span<const JobId> ids);
std::vector<std::string> scancel_argv(std::span<const JobId> ids);
std::vector<std::string> squeue_name_argv(const std::string& name);
// The whole environment sbatch runs with (and so the job gets, with --export=ALL): a fixed PATH
// and LANG, SOFTPACK_BUILD_ID, and SLURM_CONF/HOME/USER/LOGNAME when set. Never the daemon's.
std::map<std::string, std::string> sbatch_environment(const JobSpec& spec);
// Slurm's time format for --time: "D-HH:MM:SS" (Slurm rounds up to whole minutes).
std::string slurm_time(std::chrono::seconds limit);

class SlurmScheduler final : public Scheduler {
public:
  SlurmScheduler(CommandRunner& runner, SlurmOptions options);

  static constexpr std::string_view k_name = "slurm";
  std::string_view name() const override { return k_name; }
  Expected<JobId> submit(const JobSpec& spec) override;
  Expected<std::vector<JobInfo>> poll(std::span<const JobId> ids) override;
  Expected<void> cancel(std::span<const JobId> ids) override;
  Expected<std::optional<JobId>> find_submitted(const JobSpec& spec) override;

  std::string metrics() const override { return m_commands.metrics("Slurm"); }
  const BatchCommands& commands() const { return m_commands; }

private:
  SlurmOptions m_options;
  BatchCommands m_commands;
};

} // namespace softpack::scheduler::slurm
