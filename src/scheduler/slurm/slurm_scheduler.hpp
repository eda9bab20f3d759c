#pragma once

// The Slurm adapter: argv builders for sbatch/squeue/sacct/scancel, the parsers in
// slurm_parse.hpp, and retries. Polling is one `squeue` call for all ids given, plus one `sacct`
// call for those squeue no longer shows; cancelling is one `scancel` call.
//
// Thread-safe: it holds no mutable state besides counters.

#include "scheduler/scheduler.hpp"
#include "util/command.hpp"

#include <atomic>
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

struct CommandCounts {
  std::atomic<std::size_t> sbatch{0}, squeue{0}, sacct{0}, scancel{0}, errors{0}, retries{0};
  std::atomic<std::uint64_t> micros{0}; // time spent in commands
};

class SlurmScheduler final : public Scheduler {
public:
  SlurmScheduler(CommandRunner& runner, SlurmOptions options);

  std::string_view name() const override { return "slurm"; }
  Expected<JobId> submit(const JobSpec& spec) override;
  Expected<std::vector<JobInfo>> poll(std::span<const JobId> ids) override;
  Expected<void> cancel(std::span<const JobId> ids) override;
  Expected<std::optional<JobId>> find_submitted(const JobSpec& spec) override;

  std::string metrics() const override;
  const CommandCounts& counts() const { return m_counts; }

private:
  // Runs a command, retrying transient failures with backoff and jitter. Returns the last result
  // (which may be a failure the caller interprets) or a transient error.
  Expected<CommandResult> run(const std::vector<std::string>& argv,
                              const std::map<std::string, std::string>* only_env = nullptr);

  CommandRunner& m_runner;
  SlurmOptions m_options;
  CommandCounts m_counts;
};

} // namespace softpack::scheduler::slurm
