#pragma once

// The Slurm adapter: argv builders for sbatch/squeue/sacct/scancel, the parsers in
// slurm_parse.hpp, and retries. Polling is one `squeue` call for all ids given, plus one `sacct`
// call for those squeue no longer shows; cancelling is one `scancel` call.
//
// Thread-safe: it holds no mutable state besides counters.

#include "scheduler/batch_commands.hpp"
#include "scheduler/scheduler.hpp"
#include "util/command.hpp"

#include <chrono>
#include <functional>
#include <map>

namespace softpack::scheduler::slurm {

struct SlurmOptions {
  bool requeue = false;                     // --requeue instead of --no-requeue
  std::chrono::seconds timeout_signal{0};   // --signal=B:USR2@<s>; 0 = off
  std::chrono::seconds command_timeout{60}; // per command
  int retries = 3;                          // for transient failures
  std::chrono::milliseconds retry_base{500};
  // How to wait between retries; tests replace it to run instantly.
  std::function<void(std::chrono::milliseconds)> sleep;
};

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

  std::string_view name() const override { return "slurm"; }
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
