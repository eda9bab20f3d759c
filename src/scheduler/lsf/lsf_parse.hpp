#pragma once

// Pure parsers for IBM Spectrum LSF 10.1's command output, and the one table from LSF job states
// (and, for EXIT, termination reasons) to ours. bjobs is asked for an explicit field list, either
// as JSON (-json, LSF 10.1.0.2 and later) or delimited by the ASCII unit separator (\x1f), which
// cannot occur in states, reasons or our (validated) job names; output of any other shape is an
// error naming what was expected. Formats and their sources: tests/fixtures/lsf/README.md.

#include "scheduler/delimited.hpp"
#include "scheduler/scheduler.hpp"
#include "util/error.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace softpack::scheduler::lsf {

// One row of the state table.
struct StateMapping {
  std::string_view name; // "PEND"
  JobState state;
  std::string_view meaning;
};
// Every LSF job state, mapped to ours. EXIT is refined by the termination reason (below).
const std::vector<StateMapping>& state_table();

// An EXIT job's termination reason keyword ("TERM_RUNLIMIT"), mapped to ours. Keywords not in
// the table (and EXIT without a reason: a non-zero exit) are `failed`.
struct TerminationMapping {
  std::string_view keyword;
  JobState state;
};
const std::vector<TerminationMapping>& termination_table();

// "EXIT" + "TERM_RUNLIMIT: job killed after reaching LSF run time limit" -> timeout;
// unknown states -> unknown.
JobState map_state(std::string_view stat, std::string_view exit_reason = {});

// bsub's stdout: "Job <123> is submitted to queue <normal>." or "... to default queue <normal>.",
// on any line (LSF may print "Cannot connect to LSF. Please wait ..." and such first).
Expected<JobId> parse_bsub(std::string_view out);

// The fields asked of bjobs for polling, in this order.
inline constexpr std::string_view k_poll_fields = "jobid stat exit_code exit_reason pend_reason";
// And for finding a submitted job by name.
inline constexpr std::string_view k_named_fields = "jobid stat job_name job_description";

// `bjobs -a -noheader -o "<k_poll_fields> delimiter='\x1f'" IDS`: one line per job; "-" is an
// empty field.
Expected<std::vector<JobInfo>> parse_bjobs(std::string_view out);
// `bjobs -a -json -o "<k_poll_fields>" IDS`: {"COMMAND":"bjobs","JOBS":n,"RECORDS":[{...}]}.
// Records for ids LSF does not know (carrying "ERROR") are skipped.
Expected<std::vector<JobInfo>> parse_bjobs_json(std::string_view out);

struct NamedJob {
  JobId id;
  JobState state;
  std::string name;
  std::string description;
};
// `bjobs -a -noheader -o "<k_named_fields> delimiter='\x1f'" -J NAME`.
Expected<std::vector<NamedJob>> parse_bjobs_named(std::string_view out);

// `bhist -l IDS`: the jobs' event histories (lines wrapped at 80 columns). A job is done when its
// history says "Done successfully", exited when it says "Exited with exit code N" / "Exited by
// signal N" / "Completed <exit>; TERM_...", running when it started, else pending. Jobs bhist
// does not know are absent.
Expected<std::vector<JobInfo>> parse_bhist(std::string_view out);

// The ids of "Job <N> is not found" lines (bjobs' stderr for unknown or purged ids).
std::vector<std::string> not_found_ids(std::string_view stderr_text);
// Whether every non-empty line of bjobs' stderr only says that ids are unknown ("Job <N> is not
// found", "No job found", "No matching job found").
bool only_unknown_ids(std::string_view stderr_text);
// bkill's messages that mean "nothing to do": the job already finished or is not known.
bool only_already_gone(std::string_view bkill_output);

// LSF's messages for conditions that pass: mbatchd busy, restarting or unreachable.
bool is_transient_error(std::string_view stderr_text);
// bjobs refusing -json (LSF before 10.1.0.2): the caller falls back to delimited output.
bool is_json_unsupported(std::string_view stderr_text);

} // namespace softpack::scheduler::lsf
