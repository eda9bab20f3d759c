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
  a = parse_submit_answer(R"({"id": "b1"})");
  REQUIRE(a);
  CHECK_FALSE(a->existing);
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
