#pragma once

// Pure parsers for Slurm's command output, and the one table from Slurm job states to ours.
// The commands are asked for machine-readable output with explicit fields and the ASCII unit
// separator (\x1f) as delimiter, which cannot occur in states or reasons, nor in our (validated)
// job names, though Slurm itself accepts any name (see tests/fixtures/slurm/README.md); a line of
// any other shape is an error that names what was expected.

#include "scheduler/delimited.hpp"
#include "scheduler/scheduler.hpp"
#include "util/error.hpp"
#include "util/time.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace softpack::scheduler::slurm {

// One row of the state table.
struct StateMapping {
  std::string_view name; // "PENDING"
  std::string_view code; // "PD" (squeue's compact form)
  JobState state;
};

// Every Slurm job state we know, mapped to ours. Unknown names map to JobState::unknown.
const std::vector<StateMapping>& state_table();
// "CANCELLED by 1000" -> cancelled; "CANCELLED+" (truncated) -> cancelled; "PD" -> pending.
JobState map_state(std::string_view native);

// `sbatch --parsable` stdout: "123" or "123;cluster", possibly after other lines.
Expected<JobId> parse_sbatch(std::string_view out);

// `squeue -h -t all --jobs=... -O JobID:\x1f,State:\x1f,Reason:\x1f,exit_code:\x1f,Name:\x1f`
// (each field unpadded and ending in \x1f; exit_code is a raw wait status).
Expected<std::vector<JobInfo>> parse_squeue(std::string_view out);

// `sacct -X -P -n --delimiter=\x1f -o JobIDRaw,State,ExitCode,Reason,Start,End,JobName`
// Times are the cluster's local time ("2026-11-25T07:19:50"; "Unknown"/"None" when unset),
// read in `zone`.
Expected<std::vector<JobInfo>> parse_sacct(std::string_view out, const TimeZone& zone);

// `squeue -h -t all -n NAME -O JobID:\x1f,State:\x1f,Comment:\x1f` rows.
struct NamedJob {
  JobId id;
  JobState state;
  std::string comment;
};
Expected<std::vector<NamedJob>> parse_squeue_named(std::string_view out);

struct ExitStatus {
  int code = 0;
  std::optional<int> signal; // none for 0
};
// sacct's ExitCode: "0:15" -> code 0, signal 15; "1" -> code 1. Anything else is an error.
Expected<ExitStatus> parse_exit_code(std::string_view text);

// Slurm's messages for conditions that pass: the controller is busy or briefly unreachable.
bool is_transient_error(std::string_view stderr_text);
// squeue/scancel/sacct saying the ids are unknown ("Invalid job id specified").
bool is_invalid_job_id(std::string_view stderr_text);

} // namespace softpack::scheduler::slurm
