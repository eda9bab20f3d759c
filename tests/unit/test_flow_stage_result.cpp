#include "flow/stage_result.hpp"
#include "support/fixtures.hpp"
#include "util/fs.hpp"

#include <catch2/catch.hpp>

using namespace softpack;
using flow::parse_stage_result;
using flow::reconcile;
using flow::StageResult;
using scheduler::JobInfo;
using scheduler::JobState;
using softpack::testing::fixture;

namespace {

JobInfo scheduler_says(JobState state, std::string reason = {}) {
  JobInfo info;
  info.id = scheduler::JobId{"1234"};
  info.state = state;
  info.reason = std::move(reason);
  return info;
}

StageResult result(int exit_code, std::string signal = {}) {
  StageResult r;
  r.exit_code = exit_code;
  r.start = 1795592695;
  r.end = 1795592701;
  r.signal = std::move(signal);
  return r;
}

} // namespace

TEST_CASE("stage_result: parse result files the job script wrote", "[flow]") {
  SECTION("completed") {
    auto r = parse_stage_result(fixture("flow/result_completed.txt"));
    REQUIRE(r.has_value());
    CHECK(r->exit_code == 0);
    CHECK(r->start == 1795592695);
    CHECK(r->end == 1795592695);
    CHECK(r->signal.empty());
    CHECK(r->host == "vm");
  }
  SECTION("failed with exit code 2") {
    auto r = parse_stage_result(fixture("flow/result_failed_exit_2.txt"));
    REQUIRE(r.has_value());
    CHECK(r->exit_code == 2);
    CHECK(r->signal.empty());
  }
  SECTION("the time limit warning (USR2)") {
    auto r = parse_stage_result(fixture("flow/result_usr2_time_limit_warning.txt"));
    REQUIRE(r.has_value());
    CHECK(r->exit_code == 124);
    CHECK(r->signal == "USR2");
    CHECK(r->end >= r->start);
  }
  SECTION("terminated (TERM)") {
    auto r = parse_stage_result(fixture("flow/result_sigterm_cancelled.txt"));
    REQUIRE(r.has_value());
    CHECK(r->exit_code == 143);
    CHECK(r->signal == "TERM");
  }
  SECTION("a newer script's extra keys are ignored") {
    auto r = parse_stage_result(fixture("flow/result_newer_script_extra_keys.txt"));
    REQUIRE(r.has_value());
    CHECK(r->exit_code == 0);
    CHECK(r->end == 1795592701);
    CHECK(r->host == "node-7");
  }
}

TEST_CASE("stage_result: malformed result files are errors", "[flow]") {
  struct Case {
    const char* file;
    const char* says;
  };
  for (const auto& c :
       {Case{"result_missing_exit.txt", "no exit status"},
        Case{"result_non_numeric_exit.txt", "'exit'"}, Case{"result_empty_exit.txt", "'exit'"},
        Case{"result_non_numeric_start.txt", "'start'"}}) {
    INFO(c.file);
    auto r = parse_stage_result(fixture(std::string("flow/") + c.file));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::invalid_input);
    CHECK_THAT(r.error().describe(), Catch::Contains(c.says));
  }
  SECTION("more malformed text") {
    for (const char* text : {"", "\n\n", "exit=0x1\n", "exit=1.5\n", "exit= 1\n", "exit\n",
                             "exit=99999999999999999999\n"}) {
      INFO("text: " << text);
      CHECK_FALSE(parse_stage_result(text).has_value());
    }
  }
  SECTION("a bad value is shown printable") {
    auto r = parse_stage_result("exit=\x1b[31m\n");
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Catch::Contains("\\x1b", Catch::CaseSensitive::No));
  }
}

TEST_CASE("stage_result: reconcile the scheduler's view with the result file", "[flow]") {
  SECTION("no result file: the scheduler's state stands") {
    for (auto s : {JobState::pending, JobState::running, JobState::failed, JobState::unknown,
                   JobState::timeout}) {
      const JobInfo info = reconcile(scheduler_says(s, "why"), std::nullopt);
      CHECK(info.state == s);
      CHECK(info.reason == "why");
    }
  }
  SECTION("exit 0 is completed whatever the scheduler says") {
    for (auto s : {JobState::unknown, JobState::running, JobState::failed, JobState::lost}) {
      const JobInfo info = reconcile(scheduler_says(s, "Invalid job id"), result(0));
      CHECK(info.state == JobState::completed);
      CHECK(info.exit_code == 0);
      CHECK(info.reason.empty());
      REQUIRE(info.started.has_value());
      CHECK(to_unix_seconds(*info.started) == 1795592695);
      REQUIRE(info.ended.has_value());
      CHECK(to_unix_seconds(*info.ended) == 1795592701);
    }
  }
  SECTION("non-zero exit with the scheduler saying timeout stays timeout") {
    const JobInfo info = reconcile(scheduler_says(JobState::timeout, "TimeLimit"), result(143));
    CHECK(info.state == JobState::timeout);
    CHECK(info.reason == "TimeLimit");
    CHECK(info.exit_code == 143);
  }
  SECTION("non-zero exit with the scheduler saying cancelled stays cancelled") {
    CHECK(reconcile(scheduler_says(JobState::cancelled), result(143, "TERM")).state ==
          JobState::cancelled);
  }
  SECTION("non-zero exit while the scheduler still shows the job: it stays running") {
    const JobInfo info = reconcile(scheduler_says(JobState::running), result(1));
    CHECK(info.state == JobState::running);
    CHECK(info.exit_code == 1);
  }
  SECTION("USR2 means the time limit") {
    for (auto s : {JobState::unknown, JobState::running, JobState::failed}) {
      const JobInfo info = reconcile(scheduler_says(s), result(124, "USR2"));
      CHECK(info.state == JobState::timeout);
      CHECK_THAT(info.reason, Catch::Contains("time limit"));
    }
  }
  SECTION("TERM and a scheduler that forgot the job: cancelled") {
    const JobInfo info = reconcile(scheduler_says(JobState::unknown), result(143, "TERM"));
    CHECK(info.state == JobState::cancelled);
    CHECK_THAT(info.reason, Catch::Contains("SIGTERM"));
  }
  SECTION("non-zero exit and a scheduler that forgot the job: failed with the exit code") {
    const JobInfo info = reconcile(scheduler_says(JobState::unknown, "Invalid job id"), result(2));
    CHECK(info.state == JobState::failed);
    CHECK(info.reason == "exit code 2");
    CHECK(info.exit_code == 2);
  }
  SECTION("the scheduler's start time wins over the script's") {
    JobInfo said = scheduler_says(JobState::failed);
    said.started = from_unix_seconds(1795592000);
    const JobInfo info = reconcile(said, result(1));
    CHECK(to_unix_seconds(*info.started) == 1795592000);
  }
}
