#include "scheduler/lsf/lsf_parse.hpp"
#include "scheduler/lsf/lsf_scheduler.hpp"
#include "support/fake_command_runner.hpp"
#include "support/fixtures.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"

#include <algorithm>

#include <catch2/catch.hpp>

using namespace softpack;
using softpack::testing::fixture;
using namespace softpack::scheduler;
using namespace softpack::scheduler::lsf;
using softpack::testing::FakeCommandRunner;

namespace {

const JobInfo& by_id(const std::vector<JobInfo>& jobs, const std::string& id) {
  for (const auto& j : jobs) {
    if (j.id.value == id) {
      return j;
    }
  }
  FAIL("no job " << id);
  throw;
}

JobSpec spec_for(const std::string& stage) {
  JobSpec s;
  s.name = "sp.alice.env-1." + stage;
  s.comment = "build-42";
  s.script = "/data/builds/build-42/scripts/" + stage + ".sh";
  s.workdir = "/data/builds/build-42";
  s.stdout_path = "/data/builds/build-42/logs/" + stage + ".out";
  s.stderr_path = s.stdout_path;
  return s;
}

LsfOptions instant(JsonMode json = JsonMode::off) {
  LsfOptions o;
  o.retry.sleep = [](std::chrono::milliseconds) {};
  o.json = json;
  return o;
}

bool has(const std::vector<std::string>& argv, const std::string& a) {
  return std::find(argv.begin(), argv.end(), a) != argv.end();
}

// The value after option `opt` in argv ("" when absent).
std::string after(const std::vector<std::string>& argv, const std::string& opt) {
  auto it = std::find(argv.begin(), argv.end(), opt);
  return it == argv.end() || it + 1 == argv.end() ? std::string() : *(it + 1);
}

const std::string u(1, '\x1f');

} // namespace

TEST_CASE("lsf: every documented state maps through the table", "[lsf]") {
  const std::vector<std::pair<std::string, JobState>> expected{
      {"PEND", JobState::pending},    {"PSUSP", JobState::pending}, {"WAIT", JobState::pending},
      {"PROV", JobState::pending},    {"RUN", JobState::running},   {"USUSP", JobState::running},
      {"SSUSP", JobState::running},   {"UNKWN", JobState::running}, {"DONE", JobState::completed},
      {"PDONE", JobState::completed}, {"EXIT", JobState::failed},   {"ZOMBI", JobState::node_fail},
  };
  for (const auto& [name, state] : expected) {
    INFO(name);
    CHECK(map_state(name) == state);
  }
  CHECK(state_table().size() == expected.size() + 1); // + PEXIT
  SECTION("EXIT is refined by the termination reason") {
    CHECK(map_state("EXIT", "TERM_RUNLIMIT: job killed after reaching LSF run time limit") ==
          JobState::timeout);
    CHECK(map_state("EXIT", "TERM_OWNER: job killed by owner") == JobState::cancelled);
    CHECK(map_state("EXIT", "TERM_ORPHAN_SYSTEM: orphan job was automatically terminated") ==
          JobState::cancelled);
    CHECK(map_state("EXIT", "TERM_PREEMPT: job killed after preemption") == JobState::node_fail);
    CHECK(map_state("EXIT", "TERM_MEMLIMIT: job killed after reaching LSF memory usage limit") ==
          JobState::failed);
    CHECK(map_state("EXIT", "TERM_SOMETHING_NEW: ?") == JobState::failed);
    CHECK(map_state("EXIT", "") == JobState::failed);
    // A reason never turns a DONE job into anything else.
    CHECK(map_state("DONE", "TERM_OWNER: job killed by owner") == JobState::completed);
  }
  SECTION("unknown states") {
    CHECK(map_state("SOMETHING_NEW") == JobState::unknown);
    CHECK(map_state("") == JobState::unknown);
    CHECK(map_state(" RUN ") == JobState::running);
  }
}

TEST_CASE("lsf: parse bsub output, searching every line", "[lsf]") {
  CHECK(parse_bsub(fixture("lsf/bsub_queue.txt"))->value == "473713");
  CHECK(parse_bsub(fixture("lsf/bsub_default_queue.txt"))->value == "771278");
  CHECK(parse_bsub(fixture("lsf/bsub_after_please_wait.txt"))->value == "12345678");
  SECTION("anything else is an error quoting the output") {
    auto bad = parse_bsub(fixture("lsf/bsub_no_such_queue.stderr"));
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().kind == ErrorKind::scheduler);
    CHECK_THAT(bad.error().message, Catch::Contains("No such queue"));
    CHECK_THAT(bad.error().message, Catch::Contains("is submitted to [default ]queue"));
    CHECK_FALSE(parse_bsub("").has_value());
    CHECK_FALSE(parse_bsub("Job <12x> is submitted to queue <normal>.\n").has_value());
    CHECK_FALSE(parse_bsub("Job <12> is not found\n").has_value());
  }
}

TEST_CASE("lsf: parse delimited bjobs output", "[lsf]") {
  auto jobs = parse_bjobs(fixture("lsf/bjobs_poll.unitsep.txt"));
  REQUIRE(jobs.has_value());
  CHECK(jobs->size() == 9);
  SECTION("DONE: exit code 0 although bjobs prints '-'") {
    const auto& j = by_id(*jobs, "101");
    CHECK(j.state == JobState::completed);
    CHECK(j.exit_code == 0);
    CHECK(j.reason.empty());
  }
  SECTION("EXIT with a code and no reason: failed") {
    const auto& j = by_id(*jobs, "102");
    CHECK(j.state == JobState::failed);
    CHECK(j.exit_code == 3);
    CHECK(j.native_state == "EXIT");
  }
  SECTION("an orphan terminated because of -ti: cancelled, never ran") {
    const auto& j = by_id(*jobs, "103");
    CHECK(j.state == JobState::cancelled);
    CHECK_FALSE(j.exit_code.has_value());
    CHECK_THAT(j.reason, Catch::StartsWith("TERM_ORPHAN_SYSTEM"));
  }
  SECTION("the run limit: timeout") {
    const auto& j = by_id(*jobs, "104");
    CHECK(j.state == JobState::timeout);
    CHECK(j.exit_code == 140);
    CHECK_THAT(j.reason, Catch::StartsWith("TERM_RUNLIMIT"));
  }
  SECTION("pending on a dependency: the reason without LSF's ';'") {
    const auto& j = by_id(*jobs, "105");
    CHECK(j.state == JobState::pending);
    CHECK(j.reason == "Job dependency condition not satisfied");
  }
  SECTION("bkill, UNKWN and ZOMBI") {
    CHECK(by_id(*jobs, "107").state == JobState::cancelled);
    CHECK(by_id(*jobs, "108").state == JobState::running);
    CHECK(by_id(*jobs, "109").state == JobState::node_fail);
  }
  SECTION("an empty answer") {
    auto none = parse_bjobs("");
    REQUIRE(none.has_value());
    CHECK(none->empty());
  }
}

TEST_CASE("lsf: bjobs output of the wrong shape is an error naming what was expected", "[lsf]") {
  for (const std::string& text :
       {fixture("lsf/bjobs_caret_delimiter.txt"), std::string("JOBID USER STAT\n"),
        "101" + u + "RUN" + u + "-" + u + "-\n",
        "abc" + u + "RUN" + u + "-" + u + "-" + u + "-\n"}) {
    INFO(printable(text));
    auto r = parse_bjobs(text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::scheduler);
    CHECK_THAT(r.error().message, Catch::Contains("JOBID, STAT, EXIT_CODE, EXIT_REASON"));
  }
}

TEST_CASE("lsf: parse bjobs -json", "[lsf]") {
  auto jobs = parse_bjobs_json(fixture("lsf/bjobs_json_poll.json"));
  REQUIRE(jobs.has_value());
  CHECK(jobs->size() == 6); // the ERROR record (an unknown id) is skipped
  CHECK(by_id(*jobs, "101").state == JobState::completed);
  CHECK(by_id(*jobs, "102").exit_code == 3);
  CHECK(by_id(*jobs, "103").state == JobState::cancelled);
  CHECK(by_id(*jobs, "104").state == JobState::timeout);
  CHECK(by_id(*jobs, "105").reason == "Job dependency condition not satisfied");
  CHECK(by_id(*jobs, "106").state == JobState::running);
  SECTION("a recorded record with many more fields") {
    auto done = parse_bjobs_json(fixture("lsf/bjobs_json_done_many_fields.json"));
    REQUIRE(done.has_value());
    REQUIRE(done->size() == 1);
    CHECK(done->at(0).id.value == "22005");
    CHECK(done->at(0).state == JobState::completed);
  }
  SECTION("records without JOBID, or not JSON at all, are refused with the expected shape") {
    for (const std::string& text :
         {fixture("lsf/bjobs_json_psusp_documented.json"), std::string("{\"COMMAND\":\"bjobs\"}"),
          std::string("[]"), std::string("Job <1> is not found"),
          std::string("{\"RECORDS\":[1]}")}) {
      INFO(text.substr(0, 40));
      auto r = parse_bjobs_json(text);
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().kind == ErrorKind::scheduler);
      CHECK_THAT(r.error().message, Catch::Contains("\"RECORDS\":[{\"JOBID\""));
    }
  }
}

TEST_CASE("lsf: parse bhist -l, whatever the line wrapping", "[lsf]") {
  auto jobs = parse_bhist(fixture("lsf/bhist_l_three_jobs.txt"));
  REQUIRE(jobs.has_value());
  REQUIRE(jobs->size() == 3);
  CHECK(by_id(*jobs, "201").state == JobState::completed);
  CHECK(by_id(*jobs, "201").exit_code == 0);
  const auto& killed = by_id(*jobs, "202");
  CHECK(killed.state == JobState::cancelled);
  CHECK(killed.reason == "TERM_OWNER");
  CHECK(killed.signal == 2);
  const auto& orphan = by_id(*jobs, "203");
  CHECK(orphan.state == JobState::cancelled);
  CHECK(orphan.reason == "TERM_ORPHAN_SYSTEM");
  SECTION("exit code, and TERM_RUNLIMIT split across lines") {
    auto e = parse_bhist(fixture("lsf/bhist_l_exit_code.txt"));
    REQUIRE(e.has_value());
    REQUIRE(e->size() == 1);
    CHECK(e->at(0).state == JobState::failed);
    CHECK(e->at(0).exit_code == 3);
    // bjobs -l has the same event lines; its "exit code 140" and "TERM_RUNLIMIT" are wrapped.
    auto t = parse_bhist(fixture("lsf/bjobs_l_runlimit.txt"));
    REQUIRE(t.has_value());
    REQUIRE(t->size() == 1);
    CHECK(t->at(0).state == JobState::timeout);
    CHECK(t->at(0).exit_code == 140);
  }
  SECTION("nothing known") {
    auto none = parse_bhist("No matching job found\n");
    REQUIRE(none.has_value());
    CHECK(none->empty());
  }
}

TEST_CASE("lsf: messages that mean 'unknown id', 'already gone' and 'retry'", "[lsf]") {
  CHECK(only_unknown_ids(fixture("lsf/bjobs_not_found.stderr")));
  CHECK(not_found_ids(fixture("lsf/bjobs_not_found.stderr")) == std::vector<std::string>{"999999"});
  CHECK(only_unknown_ids("No job found\n"));
  CHECK_FALSE(only_unknown_ids("Job <1> is not found\nLSF is down. Please wait ...\n"));
  CHECK(only_already_gone(fixture("lsf/bkill_terminated.stdout") +
                          fixture("lsf/bkill_finished_and_unknown.stderr")));
  CHECK_FALSE(only_already_gone("Job <5>: User permission denied\n"));
  CHECK(is_transient_error("Cannot connect to LSF. Please wait ...\n"));
  CHECK(is_transient_error("LSF is down. Please wait ...\n"));
  CHECK(is_transient_error("batch system daemon not responding ... still trying\n"));
  CHECK_FALSE(is_transient_error(fixture("lsf/bsub_no_such_queue.stderr")));
  CHECK_FALSE(is_transient_error(fixture("lsf/bjobs_not_found.stderr")));
  CHECK(is_json_unsupported("bjobs: illegal option -- json\nUsage: bjobs ...\n"));
  CHECK_FALSE(is_json_unsupported("Job <1> is not found\n"));
}

TEST_CASE("lsf: bsub argv", "[lsf]") {
  JobSpec spec = spec_for("build");
  spec.after_ok = {JobId{"101"}, JobId{"102"}};
  spec.resources.partition = "long";
  spec.resources.account = "hgi";
  spec.resources.time_limit = std::chrono::hours(26) + std::chrono::seconds(1);
  spec.resources.memory_mb = 16384;
  spec.resources.cpus = 4;
  spec.resources.extra_args = {"-sla", "softpack"};
  LsfOptions o;
  o.unit_for_limits = "MB";
  const auto argv = bsub_argv(spec, o);
  const std::vector<std::string> expected{"bsub",
                                          "-J",
                                          "sp.alice.env-1.build",
                                          "-Jd",
                                          "build-42",
                                          "-g",
                                          "/softpack/build-42",
                                          "-cwd",
                                          "/data/builds/build-42",
                                          "-o",
                                          "/data/builds/build-42/logs/build.out.lsf",
                                          "-env",
                                          "none",
                                          "-q",
                                          "long",
                                          "-P",
                                          "hgi",
                                          "-n",
                                          "4",
                                          "-W",
                                          "1561",
                                          "-M",
                                          "16384",
                                          "-R",
                                          "select[mem>16384] rusage[mem=16384] span[hosts=1]",
                                          "-w",
                                          "done(101) && done(102)",
                                          "-ti",
                                          "-sla",
                                          "softpack"};
  CHECK(argv == expected);
  CHECK(bsub_stdin(spec) == "exec /bin/bash /data/builds/build-42/scripts/build.sh "
                            ">/data/builds/build-42/logs/build.out 2>&1\n");
  SECTION("no dependencies, defaults: no -w/-ti/-W/-M, and LSF's default units") {
    const auto plain = bsub_argv(spec_for("concretize"), LsfOptions{});
    CHECK_FALSE(has(plain, "-w"));
    CHECK_FALSE(has(plain, "-ti"));
    CHECK_FALSE(has(plain, "-W"));
    CHECK_FALSE(has(plain, "-M"));
    CHECK_FALSE(has(plain, "-e")); // LSF's own stderr goes to its -o file
    CHECK(after(plain, "-R") == "span[hosts=1]");
    CHECK(after(plain, "-n") == "1");
  }
  SECTION("LSF_UNIT_FOR_LIMITS: -M follows it; mem in -R is MB when it is KB") {
    JobSpec m = spec_for("build");
    m.resources.memory_mb = 1536;
    LsfOptions kb;
    CHECK(after(bsub_argv(m, kb), "-M") == "1572864");
    CHECK(after(bsub_argv(m, kb), "-R") == "select[mem>1536] rusage[mem=1536] span[hosts=1]");
    LsfOptions gb;
    gb.unit_for_limits = "GB";
    CHECK(after(bsub_argv(m, gb), "-M") == "2"); // rounded up
    CHECK(after(bsub_argv(m, gb), "-R") == "select[mem>2] rusage[mem=2] span[hosts=1]");
  }
  SECTION("a separate stderr file, a job group root and a short time limit") {
    JobSpec e = spec_for("module");
    e.stderr_path = "/data/builds/build-42/logs/module.err";
    e.resources.time_limit = std::chrono::seconds(61);
    LsfOptions g;
    g.job_group_root = "/hgi/softpack";
    const auto a = bsub_argv(e, g);
    CHECK_FALSE(has(a, "-e"));
    CHECK(bsub_stdin(e) == "exec /bin/bash /data/builds/build-42/scripts/module.sh "
                           ">/data/builds/build-42/logs/module.out "
                           "2>/data/builds/build-42/logs/module.err\n");
    CHECK(after(a, "-g") == "/hgi/softpack/build-42");
    CHECK(after(a, "-W") == "2");
  }
  SECTION("a script path with shell metacharacters is quoted for sh") {
    JobSpec q = spec_for("build");
    q.script = "/data/it's here/$(x).sh";
    q.stdout_path = "/data/a b/out";
    q.stderr_path = q.stdout_path;
    CHECK(bsub_stdin(q) == "exec /bin/bash '/data/it'\\''s here/$(x).sh' >'/data/a b/out' 2>&1\n");
  }
}

TEST_CASE("lsf: bsub runs with a minimal environment plus LSF's own variables", "[lsf]") {
  ::setenv("SOFTPACK_TEST_SECRET_TOKEN", "do-not-leak", 1);
  ::setenv("LSF_ENVDIR", "/opt/lsf/conf", 1);
  const auto env = bsub_environment(spec_for("build"));
  ::unsetenv("SOFTPACK_TEST_SECRET_TOKEN");
  ::unsetenv("LSF_ENVDIR");
  CHECK(env.count("SOFTPACK_TEST_SECRET_TOKEN") == 0);
  CHECK(env.at("LSF_ENVDIR") == "/opt/lsf/conf");
  CHECK(env.at("SOFTPACK_BUILD_ID") == "build-42");
  CHECK(env.at("PATH") == "/usr/local/bin:/usr/bin:/bin");
  for (const auto& [k, v] : env) {
    INFO(k);
    const bool allowed = k == "PATH" || k == "LANG" || k == "SOFTPACK_BUILD_ID" || k == "HOME" ||
                         k == "USER" || k == "LOGNAME" || starts_with(k, "LSF_") ||
                         starts_with(k, "LSB_");
    CHECK(allowed);
  }
}

TEST_CASE("lsf: submit sends the script on stdin and parses the id", "[lsf]") {
  FakeCommandRunner runner;
  runner.respond_ok("bsub", fixture("lsf/bsub_after_please_wait.txt"));
  LsfScheduler s(runner, instant());
  auto id = s.submit(spec_for("concretize"));
  REQUIRE(id.has_value());
  CHECK(id->value == "12345678");
  CHECK(runner.count("bsub") == 1);
}

TEST_CASE("lsf: a timed-out bsub finds its job by name and build id instead of submitting twice",
          "[lsf]") {
  FakeCommandRunner runner;
  CommandResult timed_out;
  timed_out.timed_out = true;
  runner.respond("bsub", timed_out);
  // The job exists: same name, this build's id as description (and an older one of another).
  runner.respond_ok("bjobs", fixture("lsf/bjobs_named.unitsep.txt"));
  LsfScheduler s(runner, instant());
  auto id = s.submit(spec_for("build"));
  REQUIRE(id.has_value());
  CHECK(id->value == "112");
  CHECK(runner.count("bsub") == 1);
  const auto calls = runner.calls();
  CHECK(calls.at(1).at(0) == "bjobs");
  CHECK(after(calls.at(1), "-J") == "sp.alice.env-1.build");

  SECTION("when no such job exists, bsub is tried again") {
    FakeCommandRunner r2;
    r2.respond("bsub", timed_out);
    r2.respond_ok("bsub", fixture("lsf/bsub_queue.txt"));
    r2.respond_fail("bjobs", 255, "No job found\n");
    LsfScheduler s2(r2, instant());
    auto again = s2.submit(spec_for("build"));
    REQUIRE(again.has_value());
    CHECK(again->value == "473713");
    CHECK(r2.count("bsub") == 2);
  }
}

TEST_CASE("lsf: the job description names who asked; the job group stays the build id", "[lsf]") {
  JobSpec spec = spec_for("build");
  spec.requested_by = "token ci";
  const auto argv = bsub_argv(spec, LsfOptions{});
  CHECK(after(argv, "-Jd") == "build-42 by token ci");
  CHECK(after(argv, "-g") == "/softpack/build-42");
  CHECK(bsub_environment(spec).at("SOFTPACK_BUILD_ID") == "build-42");
  SECTION("nobody known: the bare build id, as before") {
    CHECK(after(bsub_argv(spec_for("build"), LsfOptions{}), "-Jd") == "build-42");
  }
}

TEST_CASE("lsf: a timed-out bsub finds its job by a description naming the requester", "[lsf]") {
  FakeCommandRunner runner;
  CommandResult timed_out;
  timed_out.timed_out = true;
  runner.respond("bsub", timed_out);
  const std::string u(1, '\x1f');
  // 110 is another build whose id starts with ours; 113 is ours, with the requester.
  runner.respond_ok("bjobs", "110" + u + "PEND" + u + "sp.alice.env-1.build" + u +
                                 "build-42x by bob\n" + "113" + u + "PEND" + u +
                                 "sp.alice.env-1.build" + u + "build-42 by alice\n");
  LsfScheduler s(runner, instant());
  JobSpec spec = spec_for("build");
  spec.requested_by = "alice";
  auto id = s.submit(spec);
  REQUIRE(id.has_value());
  CHECK(id->value == "113");
  CHECK(runner.count("bsub") == 1);
}

TEST_CASE("lsf: a rejected bsub is an error with LSF's message", "[lsf]") {
  FakeCommandRunner runner;
  runner.respond_fail("bsub", 255, fixture("lsf/bsub_no_such_queue.stderr"));
  LsfScheduler s(runner, instant());
  auto id = s.submit(spec_for("build"));
  REQUIRE_FALSE(id.has_value());
  CHECK(id.error().kind == ErrorKind::scheduler);
  CHECK_THAT(id.error().message, Catch::Contains("No such queue"));
  CHECK(runner.count("bsub") == 1);
}

TEST_CASE("lsf: polling any number of jobs is one bjobs call, plus one bhist for the rest",
          "[lsf]") {
  // 20 builds x 3 stages = 60 jobs, ids 1000..1059. bjobs has purged the first 10 (older than
  // CLEAN_PERIOD): it says so on stderr, exits 255, and prints the other 50.
  std::vector<JobId> ids;
  std::string bjobs_out, bjobs_err, bhist_out;
  for (int i = 0; i < 60; ++i) {
    const std::string id = std::to_string(1000 + i);
    ids.push_back(JobId{id});
    if (i < 10) {
      bjobs_err += "Job <" + id + "> is not found\n";
      bhist_out += "Job <" + id + ">, Job Name <sp.x.y-1.concretize>, User <u>, Command <x>\n" +
                   "Thu Mar 13 17:30:09: Done successfully. The CPU time used is 0.1 seconds;\n" +
                   std::string(78, '-') + "\n";
    } else {
      bjobs_out +=
          id + u + "PEND" + u + "-" + u + "-" + u + "Job dependency condition not satisfied;\n";
    }
  }
  for (const auto json : {false, true}) {
    DYNAMIC_SECTION((json ? "JSON" : "delimited")) {
      FakeCommandRunner runner;
      CommandResult bj;
      bj.exit_code = 255;
      bj.err = bjobs_err;
      if (json) {
        std::string records;
        for (int i = 10; i < 60; ++i) {
          records += std::string(records.empty() ? "" : ",") + "{\"JOBID\":\"" +
                     std::to_string(1000 + i) +
                     "\",\"STAT\":\"PEND\",\"EXIT_CODE\":\"\",\"EXIT_REASON\":\"\","
                     "\"PEND_REASON\":\"Job dependency condition not satisfied;\"}";
        }
        bj.out = "{\"COMMAND\":\"bjobs\",\"JOBS\":50,\"RECORDS\":[" + records + "]}";
      } else {
        bj.out = bjobs_out;
      }
      runner.respond("bjobs", bj);
      runner.respond_ok("bhist", bhist_out);
      LsfScheduler s(runner, instant(json ? JsonMode::on : JsonMode::off));
      auto infos = s.poll(ids);
      REQUIRE(infos.has_value());
      CHECK(infos->size() == 60);
      CHECK(runner.count("bjobs") == 1);
      CHECK(runner.count("bhist") == 1);
      const auto calls = runner.calls();
      // The bjobs call names all 60 ids; the bhist call only the 10 bjobs did not show.
      CHECK(std::vector<std::string>(calls[0].end() - 60, calls[0].end()) == [&] {
        std::vector<std::string> v;
        for (const auto& id : ids) {
          v.push_back(id.value);
        }
        return v;
      }());
      CHECK(has(calls[0], "-a"));
      CHECK(has(calls[0], "-json") == json);
      CHECK(has(calls[0], "-noheader") == !json);
      CHECK(calls[1].size() == 3 + 10);
      CHECK(calls[1].back() == "1009");
      CHECK(by_id(*infos, "1000").state == JobState::completed);
      CHECK(by_id(*infos, "1059").state == JobState::pending);
    }
  }

  SECTION("when bjobs shows every job, no bhist call is made") {
    FakeCommandRunner r2;
    r2.respond_ok("bjobs", bjobs_out);
    LsfScheduler s2(r2, instant());
    std::vector<JobId> known(ids.begin() + 10, ids.end());
    REQUIRE(s2.poll(known).has_value());
    CHECK(r2.count("bjobs") == 1);
    CHECK(r2.count("bhist") == 0);
  }
}

TEST_CASE("lsf: jobs unknown to bjobs and bhist are unknown, not successful", "[lsf]") {
  FakeCommandRunner runner;
  runner.respond_fail("bjobs", 255, fixture("lsf/bjobs_not_found.stderr"));
  runner.respond_fail("bhist", 255, "No matching job found\n");
  LsfScheduler s(runner, instant());
  std::vector<JobId> ids{JobId{"999999"}};
  auto infos = s.poll(ids);
  REQUIRE(infos.has_value());
  REQUIRE(infos->size() == 1);
  CHECK(infos->at(0).state == JobState::unknown);
  CHECK_THAT(infos->at(0).reason, Catch::Contains("not known"));
}

TEST_CASE("lsf: bjobs failing for another reason is an error", "[lsf]") {
  FakeCommandRunner runner;
  runner.respond_fail("bjobs", 255, "User permission denied\n");
  LsfScheduler s(runner, instant());
  std::vector<JobId> ids{JobId{"1"}};
  auto r = s.poll(ids);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == ErrorKind::scheduler);
  CHECK_THAT(r.error().message, Catch::Contains("permission denied"));
  CHECK(runner.count("bhist") == 0);
}

TEST_CASE("lsf: -json is detected, and refused -json falls back to delimited output", "[lsf]") {
  FakeCommandRunner runner;
  runner.respond_fail("bjobs", 255, "bjobs: illegal option -- json\nUsage: bjobs ...\n");
  runner.respond_ok("bjobs", "7" + u + "RUN" + u + "-" + u + "-" + u + "-\n");
  LsfScheduler s(runner, instant(JsonMode::detect));
  CHECK(s.uses_json());
  std::vector<JobId> ids{JobId{"7"}};
  auto r = s.poll(ids);
  REQUIRE(r.has_value());
  CHECK(r->at(0).state == JobState::running);
  CHECK_FALSE(s.uses_json());
  const auto calls = runner.calls();
  REQUIRE(calls.size() == 2);
  CHECK(has(calls[0], "-json"));
  CHECK_FALSE(has(calls[1], "-json"));
  SECTION("the next poll goes straight to delimited output") {
    REQUIRE(s.poll(ids).has_value());
    CHECK_FALSE(has(runner.calls().at(2), "-json"));
  }
}

TEST_CASE("lsf: transient failures are retried, then reported as transient", "[lsf]") {
  FakeCommandRunner runner;
  runner.respond_fail("bjobs", 255, "LSF is down. Please wait ...\n");
  LsfOptions o = instant();
  o.retry.retries = 2;
  LsfScheduler s(runner, o);
  std::vector<JobId> ids{JobId{"1"}};
  auto r = s.poll(ids);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == ErrorKind::transient);
  CHECK(runner.count("bjobs") == 3);

  SECTION("a retry that succeeds is invisible to the caller") {
    FakeCommandRunner r2;
    r2.respond_fail("bjobs", 255, "batch system daemon not responding ... still trying\n");
    r2.respond_ok("bjobs", "1" + u + "RUN" + u + "-" + u + "-" + u + "-\n");
    LsfScheduler s2(r2, o);
    auto ok = s2.poll(ids);
    REQUIRE(ok.has_value());
    CHECK(ok->at(0).state == JobState::running);
    CHECK(r2.count("bjobs") == 2);
    CHECK(s2.commands().retries() == 1);
    CHECK_THAT(s2.metrics(),
               Catch::Contains("softpack_scheduler_commands_total{command=\"bjobs\"} 2"));
  }
}

TEST_CASE("lsf: cancel is one bkill call, and already-ended jobs are not an error", "[lsf]") {
  FakeCommandRunner runner;
  CommandResult r;
  r.exit_code = 255;
  r.out = fixture("lsf/bkill_terminated.stdout");
  r.err = fixture("lsf/bkill_finished_and_unknown.stderr");
  runner.respond("bkill", r);
  LsfScheduler s(runner, instant());
  std::vector<JobId> ids{JobId{"1234"}, JobId{"1235"}, JobId{"1236"}, JobId{"999999"}};
  CHECK(s.cancel(ids).has_value());
  REQUIRE(runner.count("bkill") == 1);
  CHECK(runner.calls().at(0) ==
        std::vector<std::string>{"bkill", "1234", "1235", "1236", "999999"});
  SECTION("other failures are errors") {
    FakeCommandRunner bad;
    bad.respond_fail("bkill", 255, "Job <1234>: User permission denied\n");
    LsfScheduler s3(bad, instant());
    auto c = s3.cancel(ids);
    REQUIRE_FALSE(c.has_value());
    CHECK_THAT(c.error().message, Catch::Contains("permission denied"));
  }
}
