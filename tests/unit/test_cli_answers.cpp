#include "cli/answers.hpp"

#include <catch2/catch.hpp>

using namespace softpack;
using namespace softpack::cli;

TEST_CASE("cli: the service's answer to a submission", "[cli]") {
  auto a = parse_submit_answer(
      R"({"id": "20261204T120000Z-1a2b", "name": "users/alice/env-1", "existing": true})");
  REQUIRE(a);
  CHECK(a->id == "20261204T120000Z-1a2b");
  CHECK(a->existing);
  CHECK(a->requested_by.kind == auth::Requester::Kind::none); // an older service
  CHECK(a->queue_reason.empty());
  a = parse_submit_answer(R"({"id": "b1"})");
  REQUIRE(a);
  CHECK_FALSE(a->existing);
  SECTION("who the service took the request to be, and why the build waits") {
    a = parse_submit_answer(R"js({"id": "b1", "existing": false,
        "requested_by": {"kind": "user", "name": "alice", "uid": 1001},
        "queue_reason": "waiting for a slot (server.max_builds_in_flight: 1)"})js");
    REQUIRE(a);
    CHECK(a->requested_by == auth::Requester{auth::Requester::Kind::user, "alice", 1001});
    CHECK(a->requested_by.display() == "alice");
    CHECK(a->queue_reason == "waiting for a slot (server.max_builds_in_flight: 1)");
    // Odd values read as not said, never as errors.
    for (const char* odd :
         {R"({"id": "b1", "requested_by": 7, "queue_reason": 1})",
          R"({"id": "b1", "requested_by": "token ci", "queued_reason": "waiting: x"})",
          R"({"id": "b1", "requested_by": {"kind": "robot", "name": "r2"}})",
          R"({"id": "b1", "requested_by": {"kind": "user", "name": "a", "uid": -1}})",
          R"({"id": "b1", "requested_by": {"name": "a"}})",
          R"({"id": "b1", "requested_by": null})"}) {
      INFO(odd);
      a = parse_submit_answer(odd);
      REQUIRE(a);
      CHECK_FALSE(a->requested_by.uid.has_value());
      CHECK(a->queue_reason.empty());
    }
    a = parse_submit_answer(R"({"id": "b1", "requested_by": {"kind": "robot", "name": "r2"}})");
    REQUIRE(a);
    CHECK(a->requested_by.kind == auth::Requester::Kind::none);
  }
  // Other shapes are errors that show the body, never exceptions.
  for (const char* body : {"", "not json", "[]", R"({"id": 7})", R"({"id": ""})", R"({"x": 1})",
                           "{\"id\": \"b1\"", "null"}) {
    INFO(body);
    const auto e = parse_submit_answer(body);
    REQUIRE_FALSE(e);
    CHECK_THAT(e.error().message, Catch::StartsWith("unexpected answer from the service"));
  }
}

TEST_CASE("cli: the service's view of a build", "[cli]") {
  auto v = parse_build_view(R"({"id": "b1", "state": "running", "error": "",
      "stages": [{"name": "concretize", "state": "completed", "job_id": "41"},
                 {"name": "build", "state": "pending", "job_id": null}]})");
  REQUIRE(v);
  CHECK(v->state == "running");
  CHECK_FALSE(v->ended());
  REQUIRE(v->stages.size() == 2);
  CHECK(v->stages[0].job_id == std::optional<std::string>("41"));
  CHECK_FALSE(v->stages[1].job_id.has_value());
  CHECK(v->requested_by.kind == auth::Requester::Kind::none);
  CHECK(v->queue_reason.empty());
  v = parse_build_view(R"({"state": "queued", "stages": [], "queue_reason": "waiting: alice",
      "requested_by": {"kind": "core", "name": "10.0.0.5", "uid": null}})");
  REQUIRE(v);
  CHECK(v->requested_by == auth::Requester{auth::Requester::Kind::core, "10.0.0.5", std::nullopt});
  CHECK(v->queue_reason == "waiting: alice");
  v = parse_build_view(R"({"state": "failed", "error": "stage build failed", "stages": []})");
  REQUIRE(v);
  CHECK(v->ended());
  CHECK(v->error == "stage build failed");

  for (const char* body :
       {"[]", R"({"stages": []})", R"({"state": "running"})", R"({"state": 1, "stages": []})",
        R"({"state": "running", "stages": [1]})", R"({"state": "running", "stages": [{}]})",
        R"({"state": "running", "stages": {"name": "x"}})"}) {
    INFO(body);
    const auto e = parse_build_view(body);
    REQUIRE_FALSE(e);
    CHECK_THAT(e.error().message, Catch::StartsWith("unexpected answer from the service"));
  }
}

TEST_CASE("cli: the service's list of builds", "[cli]") {
  auto list = parse_build_list(R"([
      {"id": "b1", "name": "users/alice/env-1", "state": "published", "error": "",
       "requested": "2026-12-04T16:02:03Z", "started": null, "done": null,
       "stages": [{"name": "build", "state": "completed", "job_id": "7", "exit_code": 0}],
       "destinations": [{"name": "git", "state": "published", "attempts": 1,
                         "reference": "abc", "next_attempt": null}]},
      {"id": "b2", "state": "queued", "stages": []}])");
  REQUIRE(list);
  REQUIRE(list->size() == 2);
  const auto& b1 = (*list)[0];
  CHECK(b1.id == "b1");
  CHECK(b1.name == "users/alice/env-1");
  CHECK(b1.requested == "2026-12-04T16:02:03Z");
  CHECK(b1.started.empty()); // null reads as empty
  REQUIRE(b1.stages.size() == 1);
  CHECK(b1.stages[0].exit_code == std::optional<int>(0));
  REQUIRE(b1.destinations.size() == 1);
  CHECK(b1.destinations[0].reference == "abc");
  CHECK(b1.destinations[0].attempts == 1);
  CHECK((*list)[1].state == "queued");
  CHECK(parse_build_list("[]").value().empty());
  for (const char* body : {"", "{}", "[1]", R"([{"stages": []}])", R"([{"state": "x"}])",
                           R"([{"state": "x", "stages": [], "destinations": [1]}])"}) {
    INFO(body);
    const auto e = parse_build_list(body);
    REQUIRE_FALSE(e);
    CHECK_THAT(e.error().message, Catch::StartsWith("unexpected answer from the service"));
  }
}

TEST_CASE("cli: the reason of a refusal", "[cli]") {
  CHECK(refusal_reason(R"({"error": "invalid bearer token"})") == "invalid bearer token");
  CHECK(refusal_reason("  Forbidden\n") == "Forbidden");
  CHECK(refusal_reason(R"({"message": "x"})") == R"({"message": "x"})");
  CHECK(refusal_reason("\x1b[2J") == "\\x1B[2J");
}
