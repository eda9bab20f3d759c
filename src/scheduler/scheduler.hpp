#pragma once

// The one interface every batch system adapter implements: submit a job (after others succeed),
// poll many jobs in one call, cancel many jobs in one call. Adapters exchange only the value
// types below; each backend is argv builders + pure parsers + one table from its native states
// to JobState.

#include "util/error.hpp"
#include "util/time.hpp"

#include <chrono>
#include <compare>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace softpack::scheduler {

struct JobId {
  std::string value; // "1234" for Slurm and LSF, "local-<hex>-7" for the local executor
  auto operator<=>(const JobId&) const = default;
};

enum class JobState {
  pending,   // queued, waiting for resources or dependencies
  running,   // started (includes completing / suspended)
  completed, // ended with exit code 0
  failed,    // ended non-zero (also out of memory, boot failure...)
  cancelled, // cancelled by a person, or because a dependency failed
  timeout,   // hit its time limit
  node_fail, // its node failed or was preempted
  lost,      // the scheduler no longer knows it and it left no result: never success
  unknown,   // the scheduler answered something we cannot place (still being tracked)
};

std::string_view to_string(JobState state);
std::optional<JobState> job_state_from_string(std::string_view s);
// completed, failed, cancelled, timeout, node_fail and lost are final.
bool is_final(JobState state);

struct Resources {
  std::string partition; // Slurm partition / LSF queue; empty = site default
  std::string account;   // Slurm account / LSF project
  std::string qos;
  std::chrono::seconds time_limit{0}; // 0 = no limit requested
  std::uint64_t memory_mb = 0;        // 0 = site default
  int cpus = 1;
  std::vector<std::string> extra_args; // validated by config: may not override managed options
};

struct JobSpec {
  std::string name;    // scheduler-visible job name: "sp.<owner>.<env>-<version>.<stage>"
  std::string comment; // the build id, so admins can map jobs to builds
  // Who asked for the build, as shown ("alice", "token ci"); "" = not known. Only shown to the
  // scheduler's users (in the job's comment or description, after the build id).
  std::string requested_by;
  std::filesystem::path script;  // an executable bash script; run as `bash <script>`
  std::filesystem::path workdir; // the build directory
  std::filesystem::path stdout_path;
  std::filesystem::path stderr_path; // may equal stdout_path
  std::vector<JobId> after_ok;       // start only after all of these completed successfully
  Resources resources;
};

// The text a backend puts in the job's comment or description: the build id, and
// " by <requested_by>" when the requester is known (non-printable bytes shown as \xNN, so the
// text is one printable line whatever the name holds).
std::string job_comment(const JobSpec& spec);
// Whether a job's comment or description (as job_comment() made it, or the bare build id of
// jobs submitted before requesters were recorded) names build `build_id`: it is exactly the id,
// or starts with the id followed by " by ".
bool comment_names_build(std::string_view text, std::string_view build_id);

struct JobInfo {
  JobId id;
  JobState state = JobState::unknown;
  std::string native_state; // as the scheduler said it: "CANCELLED by 0", "EXIT", ...
  std::string reason;       // "Dependency", "DependencyNeverSatisfied", "dependency failed"...
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::optional<SystemTime> started;
  std::optional<SystemTime> ended;
};

// Implementations are thread-safe unless they say otherwise. All verbs may block (they run
// commands) and so are called from worker threads, never from the event loop.
class Scheduler {
public:
  virtual ~Scheduler() = default;
  virtual std::string_view name() const = 0;
  virtual Expected<JobId> submit(const JobSpec& spec) = 0;
  // One entry per id, in any order. Ids the scheduler does not know come back as `unknown` (the
  // caller decides when unknown becomes lost).
  virtual Expected<std::vector<JobInfo>> poll(std::span<const JobId> ids) = 0;
  // Cancels all of them in one call; ids that already ended are not an error.
  virtual Expected<void> cancel(std::span<const JobId> ids) = 0;
  // The job the scheduler knows that was submitted for this spec (same name and comment, i.e.
  // the same stage of the same build), if any: used after a submission whose outcome is unknown
  // (timed out, daemon killed) so a stage is never submitted twice.
  virtual Expected<std::optional<JobId>> find_submitted(const JobSpec& spec) = 0;
  // Backends that learn of job changes without being polled call `listener` (from any thread)
  // when one happens, so the caller can poll early. Others ignore it. nullptr removes it.
  virtual void set_change_listener(std::function<void()> listener) { (void)listener; }
  // Whether its jobs go on when this program stops, so that a restarted service can follow them
  // (batch schedulers); false for the local executor, whose jobs are this program's children.
  virtual bool jobs_survive_service() const { return true; }
  // Called once by the service, before it resumes builds, with a directory of its own for the
  // backend: one whose jobs do not survive the service keeps its record of them there and ends
  // what an earlier run left running. An error stops the service. Others do nothing.
  virtual Expected<void> take_over(const std::filesystem::path& state_dir) {
    (void)state_dir;
    return {};
  }
  // Prometheus text lines about the backend's own commands (counts, errors, latency).
  virtual std::string metrics() const { return {}; }
};

} // namespace softpack::scheduler
