#pragma once

// What one poll answer does to a stage. Pure (the clock is a parameter), so that every case is
// tested as a table: a result file with or without the scheduler's word, a job the scheduler
// has forgotten, a running job the scheduler closes as cancelled for its dependency.

#include "flow/build_status.hpp"
#include "flow/stage_result.hpp"
#include "scheduler/scheduler.hpp"
#include "util/time.hpp"

#include <chrono>
#include <optional>
#include <string_view>

namespace softpack::flow {

// The stage after the scheduler's answer for its job:
//   stage       as it was: submitted (a job id), not ended
//   polled      the scheduler's answer (state unknown: it does not know the job)
//   result      the job's result file, when the job script has written it (flow/stage_result)
//   now         when the answer came
//   lost_grace  how long a job may be unknown to the scheduler, with no result file, before it
//               is lost (a result file may lag on a network filesystem)
// State, reason, exit code, start and end times and since when the job has been missing change;
// nothing else does. A job the scheduler does not know comes back unchanged but for
// missing_since until the grace is over.
StageStatus advance_stage(const StageStatus& stage, const scheduler::JobInfo& polled,
                          const std::optional<StageResult>& result, SystemTime now,
                          std::chrono::seconds lost_grace);

// Whether a scheduler's reason is about a job dependency (Slurm: Dependency,
// DependencyNeverSatisfied; LSF: "Job dependency condition not satisfied").
bool mentions_dependency(std::string_view reason);

} // namespace softpack::flow
