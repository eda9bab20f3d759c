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
  a.requested_by = {auth::Requester::Kind::user, "alice", 1001};
  const std::string expected =
      "ID                         ENVIRONMENT                      STATE      REQUESTED (UTC)      "
      "BY     STAGES\n"
      "20261204T160203Z-1a2b3c4d  users/alice/env-1                published  2026-12-04 16:02:03  "
      "alice  2/2 done\n"
      "20261204T160500Z-00ff00ff  groups/hgi/a-much-longer-name-7  failed     2026-12-04 16:05:00  "
      "-      build failed (exit 1)\n";
  CHECK(builds_table({a, b}) == expected);
  SECTION("a queued build shows why it waits instead of its stages") {
    auto q = build("20261204T160600Z-0000aaaa", "queued", {stage("concretize", "pending")});
    q.requested_by = {auth::Requester::Kind::token, "ci", std::nullopt};
    q.queue_reason = "waiting for a slot (server.max_builds_in_flight: 1)";
    CHECK(builds_table({q}) ==
          "ID                         ENVIRONMENT        STATE   REQUESTED (UTC)      BY        "
          "STAGES\n"
          "20261204T160600Z-0000aaaa  users/alice/env-1  queued  2026-12-04 16:02:03  token ci  "
          "waiting for a slot (server.max_builds_in_flight: 1)\n");
  }
  SECTION("text from the service cannot drive the terminal") {
    b.name = "users/x/\x1b[2Jevil-1";
    b.requested_by = {auth::Requester::Kind::user, "m\x1b]0;x", std::nullopt};
    CHECK_THAT(builds_table({b}),
               Catch::Contains("users/x/?[2Jevil-1") && !Catch::Contains("\x1b"));
  }
}

TEST_CASE("cli: one build as a block", "[cli][status]") {
  auto v = parse_build_view(R"json({"id": "20261204T160203Z-1a2b3c4d", "name": "users/alice/env-1",
      "state": "failed", "error": "stage build failed (exit code 1)",
      "requested": "2026-12-04T16:02:03Z", "started": "2026-12-04T16:02:04Z",
      "done": "2026-12-04T16:03:00Z", "published": "", "cancel_requested": false,
      "requested_by": {"kind": "user", "name": "alice", "uid": 1001}, "queue_reason": "",
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
  const std::string expected = R"text(build         20261204T160203Z-1a2b3c4d
environment   users/alice/env-1
requested by  alice (uid 1001)
state         failed: stage build failed (exit code 1)
requested     2026-12-04 16:02:03 UTC
started       2026-12-04 16:02:04 UTC
done          2026-12-04 16:03:00 UTC

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

TEST_CASE("cli: a queued build's block says why it waits; an unknown requester is '-'",
          "[cli][status]") {
  auto v = parse_build_view(R"json({"id": "b9", "name": "users/alice/env-2", "state": "queued",
      "requested": "2026-12-04T16:02:03Z", "requested_by": null,
      "queue_reason": "waiting: alice has 2 builds in flight (server.max_builds_per_user: 2)",
      "stages": []})json");
  REQUIRE(v);
  const std::string text = build_details(*v);
  CHECK_THAT(text, Catch::StartsWith("build         b9\n"
                                     "environment   users/alice/env-2\n"
                                     "requested by  -\n"
                                     "state         queued\n"
                                     "waiting       waiting: alice has 2 builds in flight "
                                     "(server.max_builds_per_user: 2)\n"
                                     "requested     2026-12-04 16:02:03 UTC\n"));
  // An older service: no requester, no reason.
  auto old = parse_build_view(R"json({"id": "b1", "state": "queued", "stages": []})json");
  REQUIRE(old);
  CHECK_THAT(build_details(*old),
             Catch::Contains("requested by  -\n") && !Catch::Contains("waiting"));
}

TEST_CASE("cli: who asked, for people", "[cli][status]") {
  using Kind = auth::Requester::Kind;
  CHECK(requester_text({}) == "-");
  CHECK(requester_text({Kind::user, "alice", 1001}) == "alice (uid 1001)");
  CHECK(requester_text({Kind::token, "ci", std::nullopt}) == "token ci");
  CHECK(requester_text({Kind::core, "10.0.0.5", std::nullopt}) == "softpack-core 10.0.0.5");
  CHECK(requester_text({Kind::webhook, "", std::nullopt}) == "webhook");
  CHECK(requester_text({Kind::user, "x\x1b[2J", std::nullopt}) == "x?[2J");
}
