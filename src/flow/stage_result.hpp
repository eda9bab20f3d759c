#pragma once

// The result file a job script writes when it ends (logs/<stage>.result), and how it settles
// what the scheduler says: the file is the final word on how the script ended.

#include "scheduler/scheduler.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace softpack::flow {

struct StageResult {
  int exit_code = -1;
  std::int64_t start = 0; // epoch seconds
  std::int64_t end = 0;
  std::string signal; // "TERM", "USR2" or empty
  std::string host;
};

// Parses "exit=0\nstart=...\nend=...\nsignal=\nhost=...\n". Unknown keys are ignored (newer
// scripts may add some); a missing or non-numeric exit is an error.
Expected<StageResult> parse_stage_result(std::string_view text);

// Combines the scheduler's view of a job with the job's own result file:
//   - a result file with exit 0 means completed;
//   - a non-zero exit keeps the scheduler's reason when it has a final one (timeout, cancelled),
//     waits for one while the scheduler still shows the job, a USR2 signal means the time
//     limit, otherwise failed;
//   - without a result file the scheduler's state stands.
scheduler::JobInfo reconcile(scheduler::JobInfo info, const std::optional<StageResult>& result);

} // namespace softpack::flow
