#include "scheduler/scheduler.hpp"

#include <catch2/catch.hpp>

using namespace softpack::scheduler;

TEST_CASE("scheduler: a job comment names the build and who asked", "[scheduler]") {
  JobSpec spec;
  spec.comment = "20261125T064636Z-3fa9c2b1";
  CHECK(job_comment(spec) == "20261125T064636Z-3fa9c2b1");
  spec.requested_by = "alice";
  CHECK(job_comment(spec) == "20261125T064636Z-3fa9c2b1 by alice");
  spec.requested_by = "token ci";
  CHECK(job_comment(spec) == "20261125T064636Z-3fa9c2b1 by token ci");
  spec.requested_by = "eve\r\n--x";
  CHECK(job_comment(spec) == "20261125T064636Z-3fa9c2b1 by eve\\x0D\\x0A--x");
}

TEST_CASE("scheduler: which comments name a build", "[scheduler]") {
  const std::string id = "20261125T064636Z-3fa9c2b1";
  CHECK(comment_names_build(id, id));
  CHECK(comment_names_build(id + " by alice", id));
  CHECK(comment_names_build(id + " by token ci", id));
  CHECK_FALSE(comment_names_build(id + "x by bob", id));
  CHECK_FALSE(comment_names_build(id + "x", id));
  CHECK_FALSE(comment_names_build(id + " by ", id));
  CHECK_FALSE(comment_names_build(id + " alice", id));
  CHECK_FALSE(comment_names_build("x" + id, id));
  CHECK_FALSE(comment_names_build(id.substr(0, 10), id));
  CHECK_FALSE(comment_names_build("", id));
  CHECK_FALSE(comment_names_build(" by alice", ""));
  CHECK(comment_names_build("", ""));
}
