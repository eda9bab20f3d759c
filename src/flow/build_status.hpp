#pragma once

// A build as the flow sees it: its state, each stage's job, and each publish destination's
// outcome. Plain values: the engine changes them, the service stores and shows them.

#include "auth/identity.hpp"
#include "scheduler/scheduler.hpp"
#include "spec/spec.hpp"
#include "util/time.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace softpack::flow {

enum class BuildState {
  queued,     // accepted, not yet submitted
  submitting, // jobs being submitted
  running,    // all jobs submitted, some not ended
  publishing, // all jobs ended, artifacts being published
  published,  // succeeded and published
  failed,     // a stage failed (builder.out published) or the build could not run
  cancelled,  // cancelled by request (builder.out published)
};

std::string_view to_string(BuildState state);
std::optional<BuildState> build_state_from_string(std::string_view text);
bool is_final(BuildState state);

// Whether a stage's exit code says something (for messages): Slurm reports 0 for a job it ended
// itself (a node failure, a cancellation), which would read as if the script had succeeded.
struct StageStatus;
bool meaningful_exit_code(const StageStatus& stage);

struct StageStatus {
  std::string name;
  std::string job_name;
  std::optional<scheduler::JobId> job_id;
  scheduler::JobState state = scheduler::JobState::pending;
  std::string reason;
  std::optional<int> exit_code;
  std::optional<SystemTime> submitted;
  std::optional<SystemTime> started;
  std::optional<SystemTime> ended;
  std::optional<SystemTime> missing_since; // the scheduler stopped knowing the job
  bool submitting = false; // the scheduler has been asked; the job id is not known yet
};

enum class DestinationState {
  pending,   // not yet published (or failed and waiting for the next attempt)
  published, // done
  failed,    // given up: refused for good, or still failing after give_up_after
};

std::string_view to_string(DestinationState state);
std::optional<DestinationState> destination_state_from_string(std::string_view text);

// One publish destination of a build (Publisher::name()).
struct DestinationStatus {
  std::string name;
  DestinationState state = DestinationState::pending;
  int attempts = 0;
  std::string error;     // the last failure; kept after a later success, for the record
  std::string reference; // what the destination made (commit, digest, path)
  std::optional<SystemTime> first_failure;
  std::optional<SystemTime> last_attempt;
  std::optional<SystemTime> next_attempt; // while pending after a failure
  bool operator==(const DestinationStatus&) const = default;
};

struct BuildStatus {
  std::string id;
  spec::ValidSpec spec;
  std::filesystem::path build_dir;
  BuildState state = BuildState::queued;
  std::string error; // why it failed: "stage build failed: exit code 1", or a publish error
  SystemTime requested{};
  std::optional<SystemTime> started; // first job started
  std::optional<SystemTime> done;    // final state reached
  std::vector<StageStatus> stages;
  bool succeeded = false; // all stages completed
  bool cancel_requested = false;
  // What publishing made: the reference of the destination that keeps the build's record (the
  // artifacts commit; Publisher::reference_is_record), else the last destination's.
  std::string published_reference;
  // The publish destinations, in publishing order, once the build's jobs have all ended.
  std::vector<DestinationStatus> destinations;
  // Who asked for the build (kind none when not known).
  auth::Requester requested_by;
  // Why a queued build waits ("waiting for a slot (...)"); "" when it does not wait or has
  // started.
  std::string queue_reason;
};

} // namespace softpack::flow
