#include "scheduler/slurm/slurm_parse.hpp"
#include "scheduler/slurm/slurm_scheduler.hpp"
#include "support/fake_command_runner.hpp"
#include "support/fixtures.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"

#include <algorithm>

#include <catch2/catch.hpp>

using namespace softpack;
using softpack::testing::fixture;
using namespace softpack::scheduler;
using namespace softpack::scheduler::slurm;
using namespace std::chrono_literals;
using softpack::testing::FakeCommandRunner;

namespace {

// sacct prints local times; the tests read them as UTC unless they say otherwise.
const TimeZone k_zone = TimeZone::utc();

// The recorded sacct files use -P's '|' (no job name there contains one); ours asks for \x1f.
std::string pipe_to_unit(std::string s) {
  std::replace(s.begin(), s.end(), '|', '\x1f');
  return s;
}

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

SlurmOptions instant() {
  SlurmOptions o;
  o.sleep = [](std::chrono::milliseconds) {};
  return o;
}

} // namespace

TEST_CASE("slurm: every documented state maps through the table", "[slurm]") {
  const std::vector<std::pair<std::string, JobState>> expected{
      {"PENDING", JobState::pending},     {"CONFIGURING", JobState::pending},
      {"RUNNING", JobState::running},     {"COMPLETING", JobState::running},
      {"SUSPENDED", JobState::running},   {"STOPPED", JobState::running},
      {"REQUEUED", JobState::pending},    {"REQUEUE_HOLD", JobState::pending},
      {"RESIZING", JobState::running},    {"COMPLETED", JobState::completed},
      {"FAILED", JobState::failed},       {"CANCELLED", JobState::cancelled},
      {"TIMEOUT", JobState::timeout},     {"NODE_FAIL", JobState::node_fail},
      {"PREEMPTED", JobState::node_fail}, {"OUT_OF_MEMORY", JobState::failed},
      {"BOOT_FAIL", JobState::node_fail}, {"DEADLINE", JobState::timeout},
      {"REVOKED", JobState::cancelled},   {"SPECIAL_EXIT", JobState::failed},
  };
  for (const auto& [name, state] : expected) {
    INFO(name);
    CHECK(map_state(name) == state);
  }
  SECTION("variants") {
    CHECK(map_state("CANCELLED by 1000") == JobState::cancelled);
    CHECK(map_state("CANCELLED+") == JobState::cancelled);
    CHECK(map_state("OUT_OF_ME+") == JobState::failed);
    CHECK(map_state("PD") == JobState::pending);
    CHECK(map_state("CG") == JobState::running);
    CHECK(map_state("  COMPLETED ") == JobState::completed);
    CHECK(map_state("SOMETHING_NEW") == JobState::unknown);
    CHECK(map_state("") == JobState::unknown);
  }
}

TEST_CASE("slurm: parse sbatch --parsable", "[slurm]") {
  CHECK(parse_sbatch(fixture("slurm/sbatch_parsable.txt"))->value == "57");
  CHECK(parse_sbatch(fixture("slurm/sbatch_parsable_cluster.txt"))->value == "58");
  CHECK(parse_sbatch("sbatch: warning: something\n123\n")->value == "123");
  CHECK(parse_sbatch("123;cluster\n\n")->value == "123");
  auto bad = parse_sbatch("Submitted batch job 12\n");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().kind == ErrorKind::scheduler);
  CHECK_THAT(bad.error().message, Catch::Contains("Submitted batch job 12"));
  CHECK_FALSE(parse_sbatch("").has_value());
}

TEST_CASE("slurm: parse squeue recorded on a real cluster", "[slurm]") {
  auto jobs = parse_squeue(fixture("slurm/squeue_all.O.txt"));
  REQUIRE(jobs.has_value());
  CHECK(jobs->size() == 11);
  SECTION("completed") {
    const auto& j = by_id(*jobs, "57");
    CHECK(j.state == JobState::completed);
    CHECK(j.exit_code == 0);
    CHECK(j.reason.empty());
  }
  SECTION("failed: exit_code is a wait status (768 = exit 3)") {
    const auto& j = by_id(*jobs, "61");
    CHECK(j.state == JobState::failed);
    CHECK(j.exit_code == 3);
    CHECK_FALSE(j.signal.has_value());
    CHECK(j.reason == "NonZeroExitCode");
  }
  SECTION("killed by a signal") {
    const auto& j = by_id(*jobs, "66");
    CHECK(j.state == JobState::failed);
    CHECK(j.signal == 9);
  }
  SECTION("cancelled because a dependency can never be satisfied") {
    const auto& j = by_id(*jobs, "62");
    CHECK(j.state == JobState::cancelled);
    CHECK(j.reason == "DependencyNeverSatisfied");
    CHECK_FALSE(j.exit_code.has_value()); // it never ran
  }
  SECTION("cancelled while running") {
    const auto& j = by_id(*jobs, "59");
    CHECK(j.state == JobState::cancelled);
    CHECK(j.signal == 15);
  }
  SECTION("timeout") {
    const auto& j = by_id(*jobs, "68");
    CHECK(j.state == JobState::timeout);
    CHECK(j.reason == "TimeLimit");
  }
  SECTION("pending on a dependency, and running") {
    auto pending = parse_squeue(fixture("slurm/squeue_pending_dependency.O.txt"));
    REQUIRE(pending.has_value());
    CHECK(pending->at(0).state == JobState::pending);
    CHECK(pending->at(0).reason == "Dependency");
    CHECK_FALSE(pending->at(0).exit_code.has_value());
    auto running = parse_squeue(fixture("slurm/squeue_running.O.txt"));
    REQUIRE(running.has_value());
    CHECK(running->at(0).state == JobState::running);
  }
  SECTION("an empty answer") {
    auto none = parse_squeue(fixture("slurm/squeue_completed_without_t_all.txt"));
    REQUIRE(none.has_value());
    CHECK(none->empty());
  }
}

TEST_CASE("slurm: squeue output of the wrong shape is an error naming what was expected",
          "[slurm]") {
  for (const std::string name : {"squeue_padded_default_width.txt", "squeue_completed.o.txt",
                                 "squeue_name_with_delimiters.pipe.txt"}) {
    INFO(name);
    auto r = parse_squeue(fixture("slurm/" + name));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::scheduler);
    CHECK_THAT(r.error().message, Catch::Contains("expected JobID, State, Reason"));
  }
}

TEST_CASE("slurm: parse sacct recorded on a real cluster", "[slurm]") {
  auto jobs = parse_sacct(fixture("slurm/sacct_all.unitsep.txt"), k_zone);
  REQUIRE(jobs.has_value());
  CHECK(by_id(*jobs, "57").state == JobState::completed);
  CHECK(by_id(*jobs, "57").started.has_value());
  CHECK(by_id(*jobs, "57").ended.has_value());
  SECTION("ExitCode is code:signal") {
    CHECK(by_id(*jobs, "61").exit_code == 3);
    CHECK(by_id(*jobs, "66").exit_code == 0);
    CHECK(by_id(*jobs, "66").signal == 9);
  }
  SECTION("CANCELLED by <uid>") {
    const auto& j = by_id(*jobs, "59");
    CHECK(j.state == JobState::cancelled);
    CHECK(j.native_state == "CANCELLED by 0");
    CHECK(j.reason == "CANCELLED by 0");
  }
  SECTION("a job that never started has no start time") {
    const auto& j = by_id(*jobs, "60");
    CHECK(j.state == JobState::cancelled);
    CHECK_FALSE(j.started.has_value());
    CHECK(j.reason == "Dependency");
  }
  SECTION("times are read in the zone given, not the process's") {
    const auto east = parse_sacct(fixture("slurm/sacct_all.unitsep.txt"), TimeZone::fixed(3600s));
    REQUIRE(east.has_value());
    REQUIRE(by_id(*east, "57").started.has_value());
    CHECK(*by_id(*jobs, "57").started - *by_id(*east, "57").started == 3600s);
    CHECK(by_id(*jobs, "57").started == parse_rfc3339("2026-11-25T07:22:10Z"));
  }
  SECTION("times are read in the zone given, not the process's") {
    const auto east = parse_sacct(fixture("slurm/sacct_all.unitsep.txt"), TimeZone::fixed(3600s));
    REQUIRE(east.has_value());
    REQUIRE(by_id(*east, "57").started.has_value());
    CHECK(*by_id(*jobs, "57").started - *by_id(*east, "57").started == 3600s);
    CHECK(by_id(*jobs, "57").started == parse_rfc3339("2026-11-25T07:22:10Z"));
  }
  SECTION("timeout") {
    const auto& j = by_id(*jobs, "68");
    CHECK(j.state == JobState::timeout);
    REQUIRE(j.started.has_value());
    REQUIRE(j.ended.has_value());
    CHECK(*j.ended - *j.started == std::chrono::seconds(66));
  }
  SECTION("the per-scenario files") {
    for (const std::string name :
         {"sacct_completed.txt", "sacct_failed.txt", "sacct_cancelled.txt", "sacct_timeout.txt",
          "sacct_running.txt", "sacct_pending_dependency.txt"}) {
      INFO(name);
      auto r = parse_sacct(pipe_to_unit(fixture("slurm/" + name)), k_zone);
      REQUIRE(r.has_value());
      CHECK(r->size() == 1);
    }
    CHECK(parse_sacct(pipe_to_unit(fixture("slurm/sacct_running.txt")), k_zone)->at(0).state ==
          JobState::running);
    CHECK_FALSE(parse_sacct(pipe_to_unit(fixture("slurm/sacct_pending_dependency.txt")), k_zone)
                    ->at(0)
                    .started.has_value());
  }
  SECTION("'|'-delimited output is refused, not misread") {
    auto r = parse_sacct(fixture("slurm/sacct_all.txt"), k_zone);
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Catch::Contains("7 fields"));
  }
}

TEST_CASE("slurm: sacct's CANCELLED with no user is a lost job, not a cancellation", "[slurm]") {
  // Found by tests/faults/slurm_state_lost.sh: a job running when slurmctld was restarted with
  // its state cleared is closed in accounting as plain CANCELLED, and the build was reported
  // `cancelled` although nobody cancelled it.
  auto lost = parse_sacct(
      pipe_to_unit(fixture("slurm/sacct_cancelled_controller_state_cleared.txt")), k_zone);
  REQUIRE(lost.has_value());
  // Jobs 60 and 75 (reason None) are lost; job 72 kept the Dependency reason it once waited
  // for and looks like Slurm's own dependency cancel (the engine knows it was running).
  REQUIRE(lost->size() == 3);
  for (const std::size_t i : {0, 2}) {
    CHECK(lost->at(i).state == JobState::lost);
    CHECK_THAT(lost->at(i).reason, Catch::Contains("without anyone cancelling it"));
  }
  CHECK(lost->at(1).state == JobState::cancelled);
  CHECK(lost->at(1).reason == "Dependency");
  SECTION("a user's scancel stays a cancellation") {
    auto r = parse_sacct(pipe_to_unit(fixture("slurm/sacct_cancelled.txt")), k_zone);
    REQUIRE(r.has_value());
    CHECK(r->at(0).state == JobState::cancelled);
    CHECK(r->at(0).reason == "CANCELLED by 0");
  }
  SECTION("a user's cancel is the reason, not the dependency the job waited for before") {
    auto r = parse_sacct(
        pipe_to_unit(fixture("slurm/sacct_dependency_never_satisfied_pending_after_scancel.txt")),
        k_zone);
    REQUIRE(r.has_value());
    CHECK(r->at(0).state == JobState::cancelled);
    CHECK(r->at(0).reason == "CANCELLED by 0");
  }
  SECTION("so does Slurm's cancel of a job whose dependency failed") {
    auto r = parse_sacct(pipe_to_unit(fixture("slurm/sacct_dependency_never_satisfied_killed.txt")),
                         k_zone);
    REQUIRE(r.has_value());
    CHECK(r->at(0).state == JobState::cancelled);
    CHECK(r->at(0).reason == "Dependency");
  }
}

TEST_CASE("slurm: error messages that mean 'retry' and 'unknown id'", "[slurm]") {
  CHECK(is_invalid_job_id(fixture("slurm/squeue_invalid_job_id.stderr")));
  CHECK(is_invalid_job_id(fixture("slurm/squeue_purged_job_id.stderr")));
  CHECK(is_transient_error("squeue: error: slurm_receive_msg: Socket timed out on send/recv "
                           "operation"));
  CHECK(is_transient_error("slurm_load_jobs error: Unable to contact slurm controller (connect "
                           "failure)"));
  CHECK(is_transient_error("sbatch: error: Slurm temporarily unable to accept job, sleeping and "
                           "retrying"));
  CHECK_FALSE(is_transient_error(fixture("slurm/sbatch_bad_partition.stderr")));
  CHECK_FALSE(is_transient_error(fixture("slurm/squeue_invalid_job_id.stderr")));
}

TEST_CASE("slurm: sbatch argv", "[slurm]") {
  JobSpec spec = spec_for("build");
  spec.after_ok = {JobId{"101"}, JobId{"102"}};
  spec.resources.partition = "normal";
  spec.resources.account = "hgi";
  spec.resources.qos = "high";
  spec.resources.time_limit = std::chrono::hours(26) + std::chrono::minutes(3);
  spec.resources.memory_mb = 16384;
  spec.resources.cpus = 4;
  spec.resources.extra_args = {"--exclusive"};
  SlurmOptions o;
  o.timeout_signal = std::chrono::seconds(120);
  const auto argv = sbatch_argv(spec, o);
  const std::vector<std::string> expected{"sbatch",
                                          "--parsable",
                                          "--job-name=sp.alice.env-1.build",
                                          "--comment=build-42",
                                          "--chdir=/data/builds/build-42",
                                          "--output=/data/builds/build-42/logs/build.out",
                                          "--error=/data/builds/build-42/logs/build.out",
                                          "--export=ALL",
                                          "--no-requeue",
                                          "--dependency=afterok:101:102",
                                          "--kill-on-invalid-dep=yes",
                                          "--partition=normal",
                                          "--account=hgi",
                                          "--qos=high",
                                          "--time=1-02:03:00",
                                          "--mem=16384M",
                                          "--cpus-per-task=4",
                                          "--signal=B:USR2@120",
                                          "--exclusive",
                                          "/data/builds/build-42/scripts/build.sh"};
  CHECK(argv == expected);
  SECTION("no dependencies, defaults") {
    const auto plain = sbatch_argv(spec_for("concretize"), SlurmOptions{});
    CHECK(std::find(plain.begin(), plain.end(), "--kill-on-invalid-dep=yes") == plain.end());
    CHECK(std::count_if(plain.begin(), plain.end(), [](const std::string& a) {
            return starts_with(a, "--dependency") || starts_with(a, "--time") ||
                   starts_with(a, "--signal");
          }) == 0);
  }
  SECTION("requeue when configured") {
    SlurmOptions r;
    r.requeue = true;
    const auto a = sbatch_argv(spec_for("module"), r);
    CHECK(std::find(a.begin(), a.end(), "--requeue") != a.end());
    CHECK(std::find(a.begin(), a.end(), "--no-requeue") == a.end());
  }
}

TEST_CASE("slurm: submit parses the id and survives sbatch's own retry message", "[slurm]") {
  FakeCommandRunner runner;
  CommandResult r;
  r.exit_code = 0;
  r.out = "4242\n";
  r.err = "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying\n";
  runner.respond("sbatch", r);
  SlurmScheduler s(runner, instant());
  auto id = s.submit(spec_for("concretize"));
  REQUIRE(id.has_value());
  CHECK(id->value == "4242");
  CHECK(runner.count("sbatch") == 1);
}

TEST_CASE("slurm: a timed-out sbatch finds its job instead of submitting twice", "[slurm]") {
  FakeCommandRunner runner;
  CommandResult timed_out;
  timed_out.timed_out = true;
  runner.respond("sbatch", timed_out);
  // The job exists: same name, same build id in the comment (and an older one of another build).
  const std::string u(1, '\x1f');
  runner.respond_ok("squeue", "90" + u + "COMPLETED" + u + "build-41" + u + "\n" + "97" + u +
                                  "PENDING" + u + "build-42" + u + "\n");
  SlurmScheduler s(runner, instant());
  auto id = s.submit(spec_for("build"));
  REQUIRE(id.has_value());
  CHECK(id->value == "97");
  CHECK(runner.count("sbatch") == 1);
  const auto calls = runner.calls();
  CHECK(calls.at(1).at(0) == "squeue");
  CHECK(std::find(calls.at(1).begin(), calls.at(1).end(), "--name=sp.alice.env-1.build") !=
        calls.at(1).end());
}

TEST_CASE("slurm: the comment names who asked after the build id", "[slurm]") {
  JobSpec spec = spec_for("build");
  SECTION("a user") {
    spec.requested_by = "alice";
    const auto argv = sbatch_argv(spec, SlurmOptions{});
    CHECK(std::find(argv.begin(), argv.end(), "--comment=build-42 by alice") != argv.end());
  }
  SECTION("a token, with a space in its display form") {
    spec.requested_by = "token ci";
    const auto argv = sbatch_argv(spec, SlurmOptions{});
    CHECK(std::find(argv.begin(), argv.end(), "--comment=build-42 by token ci") != argv.end());
  }
  SECTION("control characters are shown, not passed") {
    spec.requested_by = "bob\nx\x1fy";
    const auto argv = sbatch_argv(spec, SlurmOptions{});
    CHECK(std::find(argv.begin(), argv.end(), "--comment=build-42 by bob\\x0Ax\\x1Fy") !=
          argv.end());
  }
  SECTION("nobody known: the bare build id, as before") {
    const auto argv = sbatch_argv(spec, SlurmOptions{});
    CHECK(std::find(argv.begin(), argv.end(), "--comment=build-42") != argv.end());
  }
}

TEST_CASE("slurm: a timed-out sbatch finds its job by a comment naming the requester", "[slurm]") {
  FakeCommandRunner runner;
  CommandResult timed_out;
  timed_out.timed_out = true;
  runner.respond("sbatch", timed_out);
  const std::string u(1, '\x1f');
  // 95 belongs to build-42x (a prefix is not a match); 97 is ours, with the requester.
  runner.respond_ok("squeue", "95" + u + "PENDING" + u + "build-42x by bob" + u + "\n" + "97" + u +
                                  "PENDING" + u + "build-42 by alice" + u + "\n");
  SlurmScheduler s(runner, instant());
  JobSpec spec = spec_for("build");
  spec.requested_by = "alice";
  auto id = s.submit(spec);
  REQUIRE(id.has_value());
  CHECK(id->value == "97");
  CHECK(runner.count("sbatch") == 1);
}

TEST_CASE("slurm: a rejected sbatch is an error with Slurm's message", "[slurm]") {
  FakeCommandRunner runner;
  runner.respond_fail("sbatch", 1, fixture("slurm/sbatch_bad_partition.stderr"));
  SlurmScheduler s(runner, instant());
  auto id = s.submit(spec_for("build"));
  REQUIRE_FALSE(id.has_value());
  CHECK(id.error().kind == ErrorKind::scheduler);
  CHECK_THAT(id.error().message, Catch::Contains("invalid partition"));
  CHECK(runner.count("sbatch") == 1);
}

TEST_CASE("slurm: sacct times the clock cannot hold are unknown, not undefined behaviour",
          "[slurm]") {
  // Found by fuzz_slurm_sacct: a start in the year 8364 overflowed the nanosecond clock.
  auto text = read_file(std::string(SOFTPACK_TEST_FIXTURES) +
                        "/hostile/slurm_sacct_start_in_year_8364.txt");
  REQUIRE(text.has_value());
  auto jobs = parse_sacct(*text, k_zone);
  REQUIRE(jobs.has_value());
  const auto& j = by_id(*jobs, "61");
  CHECK(j.state == JobState::failed);
  CHECK_FALSE(j.started.has_value());
  CHECK(j.ended.has_value());
  CHECK(by_id(*jobs, "57").started.has_value());
}

TEST_CASE("slurm: polling any number of jobs is one squeue call, plus one sacct for the rest",
          "[slurm]") {
  const std::string u(1, '\x1f');
  FakeCommandRunner runner;
  // 20 builds x 3 stages = 60 jobs, ids 1000..1059. squeue still knows all but the first 10.
  std::vector<JobId> ids;
  std::string squeue_out, sacct_out;
  for (int i = 0; i < 60; ++i) {
    const std::string id = std::to_string(1000 + i);
    ids.push_back(JobId{id});
    if (i < 10) {
      sacct_out += id + u + "COMPLETED" + u + "0:0" + u + "None" + u + "2026-11-25T07:00:00" + u +
                   "2026-11-25T07:00:01" + u + "sp.x.y-1.concretize\n";
    } else {
      squeue_out +=
          id + u + "PENDING" + u + "Dependency" + u + "0" + u + "sp.x.y-1.build" + u + "\n";
    }
  }
  runner.respond_ok("squeue", squeue_out);
  runner.respond_ok("sacct", sacct_out);
  SlurmScheduler s(runner, instant());
  auto infos = s.poll(ids);
  REQUIRE(infos.has_value());
  CHECK(infos->size() == 60);
  CHECK(runner.count("squeue") == 1);
  CHECK(runner.count("sacct") == 1);
  const auto calls = runner.calls();
  // The squeue call names all 60 ids; the sacct call only the 10 squeue did not show.
  std::string all;
  for (const auto& id : ids) {
    all += (all.empty() ? "" : ",") + id.value;
  }
  CHECK(std::find(calls[0].begin(), calls[0].end(), "--jobs=" + all) != calls[0].end());
  CHECK(std::find(calls[1].begin(), calls[1].end(),
                  "--jobs=1000,1001,1002,1003,1004,1005,1006,1007,1008,1009") != calls[1].end());
  CHECK(by_id(*infos, "1000").state == JobState::completed);
  CHECK(by_id(*infos, "1059").state == JobState::pending);

  SECTION("when squeue shows every job, no sacct call is made") {
    FakeCommandRunner r2;
    r2.respond_ok("squeue", squeue_out);
    SlurmScheduler s2(r2, instant());
    std::vector<JobId> known(ids.begin() + 10, ids.end());
    REQUIRE(s2.poll(known).has_value());
    CHECK(r2.count("squeue") == 1);
    CHECK(r2.count("sacct") == 0);
  }
}

TEST_CASE("slurm: jobs gone from squeue and sacct are unknown, not successful", "[slurm]") {
  FakeCommandRunner runner;
  runner.respond_fail("squeue", 1, fixture("slurm/squeue_invalid_job_id.stderr"));
  runner.respond_ok("sacct", fixture("slurm/sacct_unknown_job_id.stdout"));
  SlurmScheduler s(runner, instant());
  std::vector<JobId> ids{JobId{"999999"}};
  auto infos = s.poll(ids);
  REQUIRE(infos.has_value());
  REQUIRE(infos->size() == 1);
  CHECK(infos->at(0).state == JobState::unknown);
  CHECK_THAT(infos->at(0).reason, Catch::Contains("not known"));
}

TEST_CASE("slurm: transient failures are retried, then reported as transient", "[slurm]") {
  FakeCommandRunner runner;
  runner.respond_fail("squeue", 1,
                      "slurm_load_jobs error: Unable to contact slurm controller "
                      "(connect failure)\n");
  SlurmOptions o = instant();
  o.retries = 2;
  SlurmScheduler s(runner, o);
  std::vector<JobId> ids{JobId{"1"}};
  auto r = s.poll(ids);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == ErrorKind::transient);
  CHECK(runner.count("squeue") == 3);

  SECTION("a retry that succeeds is invisible to the caller") {
    FakeCommandRunner r2;
    r2.respond_fail("squeue", 1, "squeue: error: Socket timed out on send/recv operation\n");
    const std::string u(1, '\x1f');
    r2.respond_ok("squeue", "1" + u + "RUNNING" + u + "None" + u + "0" + u + "n" + u + "\n");
    SlurmScheduler s2(r2, o);
    auto ok = s2.poll(ids);
    REQUIRE(ok.has_value());
    CHECK(ok->at(0).state == JobState::running);
    CHECK(r2.count("squeue") == 2);
    CHECK(s2.commands().retries() == 1);
  }
}

TEST_CASE("slurm: cancel is one scancel call, and already-ended jobs are not an error", "[slurm]") {
  // Recorded: scancel of unknown or finished ids exits 0 silently.
  FakeCommandRunner runner;
  CommandResult recorded;
  recorded.exit_code = std::stoi(fixture("slurm/scancel_invalid_job_id.exitcode"));
  recorded.err = fixture("slurm/scancel_invalid_job_id.stderr");
  runner.respond("scancel", recorded);
  SlurmScheduler s(runner, instant());
  std::vector<JobId> ids{JobId{"5"}, JobId{"6"}, JobId{"7"}};
  CHECK(s.cancel(ids).has_value());
  REQUIRE(runner.count("scancel") == 1);
  CHECK(runner.calls().at(0) == std::vector<std::string>{"scancel", "5", "6", "7"});

  SECTION("older versions say so on stderr with exit 1: still not an error") {
    FakeCommandRunner old;
    old.respond_fail("scancel", 1,
                     "scancel: error: Kill job error on job id 5: Invalid job id "
                     "specified\n");
    SlurmScheduler s2(old, instant());
    CHECK(s2.cancel(ids).has_value());
  }
  SECTION("other failures are errors") {
    FakeCommandRunner bad;
    bad.respond_fail("scancel", 1, "scancel: error: Access/permission denied\n");
    SlurmScheduler s3(bad, instant());
    auto r = s3.cancel(ids);
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Catch::Contains("permission denied"));
  }
}

TEST_CASE("slurm: sbatch runs with a minimal environment, so nothing of ours leaks into jobs",
          "[slurm]") {
  ::setenv("SOFTPACK_TEST_SECRET_TOKEN", "do-not-leak", 1);
  const auto env = sbatch_environment(spec_for("build"));
  ::unsetenv("SOFTPACK_TEST_SECRET_TOKEN");
  CHECK(env.count("SOFTPACK_TEST_SECRET_TOKEN") == 0);
  CHECK(env.at("SOFTPACK_BUILD_ID") == "build-42");
  CHECK(env.at("PATH") == "/usr/local/bin:/usr/bin:/bin");
  for (const auto& [k, v] : env) {
    INFO(k);
    const bool allowed = k == "PATH" || k == "LANG" || k == "SOFTPACK_BUILD_ID" ||
                         k == "SLURM_CONF" || k == "HOME" || k == "USER" || k == "LOGNAME";
    CHECK(allowed);
  }
}

TEST_CASE("slurm: sacct's ExitCode", "[slurm]") {
  auto s = parse_exit_code("0:15");
  REQUIRE(s);
  CHECK(s->code == 0);
  CHECK(s->signal == 15);
  s = parse_exit_code(" 3:0 ");
  REQUIRE(s);
  CHECK(s->code == 3);
  CHECK_FALSE(s->signal.has_value());
  s = parse_exit_code("1");
  REQUIRE(s);
  CHECK(s->code == 1);
  for (const char* bad : {"", "x", "1:", "1:x", ":2"}) {
    INFO(bad);
    const auto e = parse_exit_code(bad);
    REQUIRE_FALSE(e);
    CHECK(e.error().kind == ErrorKind::scheduler);
    CHECK_THAT(e.error().message, Catch::Contains("not an exit code"));
  }
}
