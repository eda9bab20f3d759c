#pragma once

// The IBM Spectrum LSF adapter: argv builders for bsub/bjobs/bhist/bkill, the parsers in
// lsf_parse.hpp, and retries. Polling is one `bjobs` call for all ids given (JSON where the
// site's LSF has it), plus one `bhist -l` call for those bjobs no longer knows (purged after
// CLEAN_PERIOD); cancelling is one `bkill` call. Each job is in the job group
// <job_group_root>/<build id> and carries the build id as its description (-Jd).
//
// Thread-safe: besides counters, its only mutable state is whether bjobs takes -json (atomic).

#include "scheduler/batch_commands.hpp"
#include "scheduler/scheduler.hpp"
#include "util/command.hpp"
#include "util/yaml.hpp"

#include <atomic>
#include <map>
#include <span>
#include <string>
#include <string_view>

namespace softpack::scheduler::lsf {

enum class JsonMode {
  detect, // try -json, fall back to delimited output when bjobs refuses it (LSF < 10.1.0.2)
  on,
  off,
};

// The settings of the LSF backend (the scheduler.lsf section of the configuration).
struct LsfOptions {
  // command_timeout: time limit for each LSF command (bsub, bjobs, bhist, bkill); retries: how
  // many times a command that failed transiently (mbatchd busy or unreachable) is retried, with
  // backoff and jitter, before the caller sees a transient error.
  RetryOptions retry;
  // The site's LSF_UNIT_FOR_LIMITS (lsf.conf): the unit of -M and of mem in -R. One of KB, MB,
  // GB, TB, PB, EB, ZB. LSF's default is KB (and then MB for mem in resource requirements).
  std::string unit_for_limits = "KB";
  // Whether bjobs is asked for JSON (-json, LSF 10.1.0.2 and later); written auto, true or false.
  JsonMode json = JsonMode::detect;
  // Jobs go into <job_group_root>/<build id> (bsub -g), so that bjobs/bkill -g cover a build.
  std::string job_group_root = "/softpack";
};

// Reads the scheduler.lsf section: command_timeout, retries, unit_for_limits, json (auto, true,
// false) and job_group_root (a trailing '/' is dropped). Unknown keys are left for the caller's
// MapReader::finish().
Expected<LsfOptions> read_lsf_options(MapReader& section);

// The bsub options the adapter sets itself (a site's extra_args may not override them).
std::span<const std::string_view> bsub_managed_options();

// Argv builders (pure).
std::vector<std::string> bsub_argv(const JobSpec& spec, const LsfOptions& options);
// What bsub reads on stdin as the job: runs the job script with bash, its stdout and stderr
// into the spec's log files (every path quoted for sh).
std::string bsub_stdin(const JobSpec& spec);
// Where LSF itself writes (bsub -o): the stdout log + ".lsf", for LSF's job report.
std::filesystem::path lsf_output_path(const JobSpec& spec);
std::vector<std::string> bjobs_argv(std::span<const JobId> ids, bool json);
std::vector<std::string> bjobs_name_argv(const std::string& name);
std::vector<std::string> bhist_argv(std::span<const JobId> ids);
std::vector<std::string> bkill_argv(std::span<const JobId> ids);
// The whole environment bsub runs with: a fixed PATH and LANG, SOFTPACK_BUILD_ID, what LSF
// itself needs (LSF_* and LSB_* variables, e.g. LSF_ENVDIR from profile.lsf), HOME/USER/LOGNAME.
// The job gets none of it (-env none): its script sets its own environment.
std::map<std::string, std::string> bsub_environment(const JobSpec& spec);
// -W takes minutes ([hour:]minute): the limit rounded up to whole minutes, at least 1.
std::string lsf_minutes(std::chrono::seconds limit);
// Megabytes in LSF's unit for -M, and for mem in -R (where KB means MB: the load index unit).
std::uint64_t memory_for_limit(std::uint64_t mb, std::string_view unit);
std::uint64_t memory_for_resreq(std::uint64_t mb, std::string_view unit);
// "/softpack/<build id>".
std::string job_group(const JobSpec& spec, const LsfOptions& options);

class LsfScheduler final : public Scheduler {
public:
  LsfScheduler(CommandRunner& runner, LsfOptions options);

  static constexpr std::string_view k_name = "lsf";
  std::string_view name() const override { return k_name; }
  Expected<JobId> submit(const JobSpec& spec) override;
  Expected<std::vector<JobInfo>> poll(std::span<const JobId> ids) override;
  Expected<void> cancel(std::span<const JobId> ids) override;
  Expected<std::optional<JobId>> find_submitted(const JobSpec& spec) override;

  std::string metrics() const override { return m_commands.metrics("LSF"); }
  const BatchCommands& commands() const { return m_commands; }
  // Whether bjobs is asked for JSON (after detection, when configured to detect).
  bool uses_json() const { return m_json; }

private:
  // bjobs for `ids`: the jobs it knows, by id. Falls back from JSON to delimited output once
  // when detecting.
  Expected<std::map<std::string, JobInfo>> query_bjobs(std::span<const JobId> ids);

  LsfOptions m_options;
  BatchCommands m_commands;
  std::atomic<bool> m_json;
};

} // namespace softpack::scheduler::lsf
