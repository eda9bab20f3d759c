#include "flow/poll_outcome.hpp"

#include "util/text.hpp"

namespace softpack::flow {

using scheduler::JobInfo;
using scheduler::JobState;

bool mentions_dependency(std::string_view reason) {
  return to_lower(reason).find("dependency") != std::string::npos;
}

StageStatus advance_stage(const StageStatus& stage, const JobInfo& polled,
                          const std::optional<StageResult>& result, SystemTime now,
                          std::chrono::seconds lost_grace) {
  StageStatus st = stage;
  JobInfo info = reconcile(polled, result);
  if (info.state == JobState::cancelled && st.state == JobState::running &&
      mentions_dependency(info.reason)) {
    // A job is cancelled for its dependency only before it runs. One seen running that comes
    // back so is the scheduler closing the record of a job it lost (slurmctld started without
    // its state keeps the reason the job once waited for): nobody cancelled it.
    info.state = JobState::lost;
    info.reason = "the scheduler ended the running job without anyone cancelling it (it "
                  "reports a dependency cancel, \"" +
                  info.reason + "\": the scheduler lost the job)";
  }
  if (info.state == JobState::unknown) {
    if (!st.missing_since) {
      st.missing_since = now;
    }
    if (now - *st.missing_since < lost_grace) {
      return st; // may be a result file lagging on a network filesystem
    }
    info.state = JobState::lost;
    info.reason = "the scheduler no longer knows the job and it left no result file" +
                  (polled.reason.empty() ? std::string() : " (" + polled.reason + ")");
  } else {
    st.missing_since.reset();
  }
  st.state = info.state;
  st.reason = info.reason;
  if (info.exit_code) {
    st.exit_code = info.exit_code;
  }
  if (info.started && !st.started) {
    st.started = info.started;
  }
  if (info.state == JobState::running && !st.started) {
    st.started = now;
  }
  if (scheduler::is_final(info.state)) {
    st.ended = info.ended.value_or(now);
  }
  return st;
}

} // namespace softpack::flow
