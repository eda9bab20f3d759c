#include "cli/answers.hpp"
#include "cli/status_text.hpp"

#include <catch2/catch.hpp>

using namespace softpack;
using namespace softpack::cli;

namespace {

BuildView::Stage stage(std::string name, std::string state, std::optional<int> exit_code = {}) {
  BuildView::Stage s;
  s.name = std::move(name);
  s.state = std::move(state);
  s.exit_code = exit_code;
  return s;
}

BuildView build(std::string id, std::string state, std::vector<BuildView::Stage> stages) {
  BuildView b;
  b.id = std::move(id);
  b.name = "users/alice/env-1";
  b.state = std::move(state);
  b.requested = "2026-12-04T16:02:03Z";
  b.stages = std::move(stages);
  return b;
}

} // namespace

TEST_CASE("cli: a build's stages in a few words", "[cli][status]") {
  CHECK(stages_summary(build("b", "queued", {})) == "-");
  CHECK(stages_summary(build("b", "running",
                             {stage("concretize", "completed", 0), stage("build", "running"),
                              stage("module", "pending")})) == "build running (1/3 done)");
  CHECK(stages_summary(build("b", "submitting",
                             {stage("concretize", "submitting"), stage("build", "pending"),
                              stage("module", "pending")})) == "concretize submitting (0/3 done)");
  CHECK(stages_summary(build("b", "published",
                             {stage("concretize", "completed", 0), stage("build", "completed", 0),
                              stage("module", "completed", 0)})) == "3/3 done");
  SECTION("the stage that failed, with its exit code") {
    CHECK(stages_summary(build("b", "failed",
                               {stage("concretize", "completed", 0), stage("build", "failed", 2),
                                stage("module", "cancelled")})) == "build failed (exit 2)");
    CHECK(stages_summary(build("b", "failed",
                               {stage("concretize", "timeout"), stage("build", "cancelled")})) ==
          "concretize timeout");
  }
  SECTION("destinations that failed or are being retried") {
    auto b = build("b", "publishing", {stage("concretize", "completed")});
    BuildView::Destination git;
    git.name = "git";
    git.state = "pending";
    git.attempts = 2;
    BuildView::Destination install;
    install.name = "install";
    install.state = "published";
    install.attempts = 1;
    b.destinations = {install, git};
    CHECK(stages_summary(b) == "1/1 done; git retrying (2 attempts)");
    b.destinations[1].state = "failed";
    CHECK(stages_summary(b) == "1/1 done; git failed");
  }
}

TEST_CASE("cli: the builds as a table", "[cli][status]") {
  CHECK(builds_table({}) == "no builds\n");
  auto a = build("20261204T160203Z-1a2b3c4d", "published",
                 {stage("concretize", "completed", 0), stage("build", "completed", 0)});
  auto b = build("20261204T160500Z-00ff00ff", "failed",
                 {stage("concretize", "completed", 0), stage("build", "failed", 1)});
  b.name = "groups/hgi/a-much-longer-name-7";
  b.requested = "2026-12-04T16:05:00Z";
  const std::string expected =
      "ID                         ENVIRONMENT                      STATE      REQUESTED (UTC)      "
      "STAGES\n"
      "20261204T160203Z-1a2b3c4d  users/alice/env-1                published  2026-12-04 16:02:03  "
      "2/2 done\n"
      "20261204T160500Z-00ff00ff  groups/hgi/a-much-longer-name-7  failed     2026-12-04 16:05:00  "
      "build failed (exit 1)\n";
  CHECK(builds_table({a, b}) == expected);
  SECTION("text from the service cannot drive the terminal") {
    b.name = "users/x/\x1b[2Jevil-1";
    CHECK_THAT(builds_table({b}),
               Catch::Contains("users/x/?[2Jevil-1") && !Catch::Contains("\x1b"));
  }
}

TEST_CASE("cli: one build as a block", "[cli][status]") {
  auto v = parse_build_view(R"json({"id": "20261204T160203Z-1a2b3c4d", "name": "users/alice/env-1",
      "state": "failed", "error": "stage build failed (exit code 1)",
      "requested": "2026-12-04T16:02:03Z", "started": "2026-12-04T16:02:04Z",
      "done": "2026-12-04T16:03:00Z", "published": "", "cancel_requested": false,
      "stages": [
        {"name": "concretize", "job_name": "sp.alice.env-1.concretize", "job_id": "41",
         "state": "completed", "reason": "", "exit_code": 0, "submitted": null,
         "started": "2026-12-04T16:02:04Z", "ended": "2026-12-04T16:02:10Z", "log_tail": "ok\n"},
        {"name": "build", "job_id": "42", "state": "failed", "reason": "NonZeroExitCode",
         "exit_code": 1, "started": "2026-12-04T16:02:10Z", "ended": "2026-12-04T16:03:00Z",
         "log_tail": "==> Installing xxhash\nError: it broke\n"},
        {"name": "module", "job_id": null, "state": "cancelled", "reason": "", "exit_code": null,
         "started": null, "ended": null, "log_tail": ""}],
      "destinations": [
        {"name": "git", "state": "published", "attempts": 1, "error": "",
         "reference": "abc123", "last_attempt": null, "next_attempt": null},
        {"name": "core", "state": "pending", "attempts": 3, "error": "HTTP 502",
         "reference": "", "last_attempt": null, "next_attempt": "2026-12-04T16:10:00Z"}]})json");
  REQUIRE(v);
  const std::string expected = R"text(build        20261204T160203Z-1a2b3c4d
environment  users/alice/env-1
state        failed: stage build failed (exit code 1)
requested    2026-12-04 16:02:03 UTC
started      2026-12-04 16:02:04 UTC
done         2026-12-04 16:03:00 UTC

stages
  concretize  job 41  completed  exit 0  16:02:04 - 16:02:10
  build       job 42  failed     exit 1  16:02:10 - 16:03:00  NonZeroExitCode
  module      -       cancelled

destinations
  git   published  1 attempt   abc123
  core  pending    3 attempts  error: HTTP 502  next attempt 2026-12-04 16:10:00 UTC

log of build (last lines)
  | ==> Installing xxhash
  | Error: it broke
)text";
  CHECK(build_details(*v) == expected);
}
