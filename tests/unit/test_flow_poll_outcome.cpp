#include "flow/poll_outcome.hpp"

#include <catch2/catch.hpp>

using namespace softpack;
using namespace std::chrono_literals;
using flow::StageResult;
using flow::StageStatus;
using scheduler::JobInfo;
using scheduler::JobState;

namespace {

const SystemTime k_now = from_unix_seconds(1'764'000'000);

StageStatus stage_in(JobState state) {
  StageStatus st;
  st.name = "build";
  st.job_id = scheduler::JobId{"42"};
  st.state = state;
  return st;
}

JobInfo answer(JobState state, std::string reason = {}, std::optional<int> exit_code = {}) {
  JobInfo i;
  i.id = scheduler::JobId{"42"};
  i.state = state;
  i.reason = std::move(reason);
  i.exit_code = exit_code;
  return i;
}

StageResult result_file(int exit_code, std::string signal = {}) {
  StageResult r;
  r.exit_code = exit_code;
  r.start = 1'764'000'000 - 60;
  r.end = 1'764'000'000 - 5;
  r.signal = std::move(signal);
  return r;
}

} // namespace

TEST_CASE("poll outcome: a stage after the scheduler's answer, as a table", "[engine][poll]") {
  struct Row {
    const char* what;
    JobState before;
    JobInfo polled;
    std::optional<StageResult> result;
    std::chrono::seconds missing_for; // how long the job has been unknown before this answer
    JobState after;
    const char* reason_has;
  };
  const Row rows[] = {
      {"pending stays pending",
       JobState::pending,
       answer(JobState::pending, "Dependency"),
       {},
       0s,
       JobState::pending,
       "Dependency"},
      {"running", JobState::pending, answer(JobState::running), {}, 0s, JobState::running, ""},
      {"completed by the scheduler",
       JobState::running,
       answer(JobState::completed, "", 0),
       {},
       0s,
       JobState::completed,
       ""},
      {"a result file with exit 0 completes a job the scheduler still runs", JobState::running,
       answer(JobState::running), result_file(0), 0s, JobState::completed, ""},
      {"a result file with exit 0 completes a job the scheduler forgot", JobState::running,
       answer(JobState::unknown), result_file(0), 0s, JobState::completed, ""},
      {"a non-zero exit in the result file of an ended job is a failure", JobState::running,
       answer(JobState::failed, "NonZeroExitCode", 1), result_file(1), 0s, JobState::failed, ""},
      {"USR2 in the result file is the time limit", JobState::running, answer(JobState::unknown),
       result_file(143, "USR2"), 0s, JobState::timeout, ""},
      {"the scheduler's timeout stands",
       JobState::running,
       answer(JobState::timeout, "TimeLimit"),
       {},
       0s,
       JobState::timeout,
       "TimeLimit"},
      {"unknown within the grace: unchanged",
       JobState::running,
       answer(JobState::unknown),
       {},
       30s,
       JobState::running,
       ""},
      {"unknown past the grace: lost",
       JobState::running,
       answer(JobState::unknown, "Invalid job id specified"),
       {},
       120s,
       JobState::lost,
       "no longer knows the job"},
      {"a pending job cancelled for its dependency is cancelled",
       JobState::pending,
       answer(JobState::cancelled, "DependencyNeverSatisfied"),
       {},
       0s,
       JobState::cancelled,
       "DependencyNeverSatisfied"},
      {"a running job closed as cancelled for its dependency was lost",
       JobState::running,
       answer(JobState::cancelled, "Dependency"),
       {},
       0s,
       JobState::lost,
       "lost the job"},
      {"a running job cancelled by a person is cancelled",
       JobState::running,
       answer(JobState::cancelled, "cancelled by 1000"),
       {},
       0s,
       JobState::cancelled,
       "cancelled by 1000"},
  };
  for (const auto& row : rows) {
    INFO(row.what);
    StageStatus before = stage_in(row.before);
    if (row.missing_for.count() > 0) {
      before.missing_since = k_now - row.missing_for;
    }
    const StageStatus after = flow::advance_stage(before, row.polled, row.result, k_now, 120s);
    CHECK(after.state == row.after);
    CHECK_THAT(after.reason, Catch::Contains(row.reason_has));
    CHECK(after.name == before.name);
    CHECK(after.job_id == before.job_id);
    if (scheduler::is_final(row.after)) {
      CHECK(after.ended.has_value());
    } else {
      CHECK_FALSE(after.ended.has_value());
    }
  }
}

TEST_CASE("poll outcome: times, exit codes and the missing clock", "[engine][poll]") {
  SECTION("a job seen running gets a start time; the scheduler's own wins when it has one") {
    auto st = flow::advance_stage(stage_in(JobState::pending), answer(JobState::running), {}, k_now,
                                  120s);
    CHECK(st.started == k_now);
    auto polled = answer(JobState::running);
    polled.started = k_now - 10s;
    st = flow::advance_stage(stage_in(JobState::pending), polled, {}, k_now, 120s);
    CHECK(st.started == k_now - 10s);
  }
  SECTION("the end time is the scheduler's, else now") {
    auto polled = answer(JobState::failed, "", 2);
    polled.ended = k_now - 3s;
    auto st = flow::advance_stage(stage_in(JobState::running), polled, {}, k_now, 120s);
    CHECK(st.ended == k_now - 3s);
    CHECK(st.exit_code == 2);
    st =
        flow::advance_stage(stage_in(JobState::running), answer(JobState::failed), {}, k_now, 120s);
    CHECK(st.ended == k_now);
  }
  SECTION("missing_since starts on the first unknown answer and clears on a known one") {
    auto st = flow::advance_stage(stage_in(JobState::running), answer(JobState::unknown), {}, k_now,
                                  120s);
    CHECK(st.missing_since == k_now);
    CHECK(st.state == JobState::running);
    st = flow::advance_stage(st, answer(JobState::unknown), {}, k_now + 60s, 120s);
    CHECK(st.missing_since == k_now); // kept, not restarted
    st = flow::advance_stage(st, answer(JobState::running), {}, k_now + 61s, 120s);
    CHECK_FALSE(st.missing_since.has_value());
  }
  SECTION("the dependency test reads Slurm's and LSF's words") {
    CHECK(flow::mentions_dependency("DependencyNeverSatisfied"));
    CHECK(flow::mentions_dependency("Job dependency condition not satisfied"));
    CHECK_FALSE(flow::mentions_dependency("Resources"));
  }
}
