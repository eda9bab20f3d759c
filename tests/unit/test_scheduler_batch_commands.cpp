// scheduler/batch_commands: time limits, retries of transient failures with backoff, the
// submit program never retried, counts and metrics; through FakeCommandRunner and an injected
// sleep, so no test waits.

#include "scheduler/batch_commands.hpp"
#include "support/fake_command_runner.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace softpack;
using namespace softpack::scheduler;
using softpack::testing::FakeCommandRunner;
using namespace std::chrono_literals;

namespace {

struct Harness {
  FakeCommandRunner runner;
  std::vector<std::chrono::milliseconds> sleeps;
  BatchCommands commands{
      runner, options(), {"sbatch", "squeue", "scancel"}, "sbatch", [](std::string_view err) {
        return err.find("Socket timed out") != std::string_view::npos;
      }};

  RetryOptions options() {
    RetryOptions o;
    o.command_timeout = 7s;
    o.retries = 3;
    o.retry_base = 100ms;
    o.sleep = [this](std::chrono::milliseconds d) { sleeps.push_back(d); };
    return o;
  }
};

CommandResult failed(int code, std::string err) {
  CommandResult r;
  r.exit_code = code;
  r.err = std::move(err);
  return r;
}

CommandResult timed_out() {
  CommandResult r;
  r.timed_out = true;
  r.signal = 15;
  return r;
}

const std::string k_transient = "squeue: error: slurm_receive_msg: Socket timed out on send/recv\n";

} // namespace

TEST_CASE("batch commands: a success is returned at once", "[scheduler][batch]") {
  Harness h;
  h.runner.respond_ok("squeue", "42|RUNNING\n");
  const auto r = h.commands.run({"squeue", "--jobs=42"});
  REQUIRE(r.has_value());
  CHECK(r->ok());
  CHECK(r->out == "42|RUNNING\n");
  CHECK(h.runner.count("squeue") == 1);
  CHECK(h.sleeps.empty());
  CHECK(h.commands.count("squeue") == 1);
  CHECK(h.commands.errors() == 0);
  CHECK(h.commands.retries() == 0);
}

TEST_CASE("batch commands: each command gets the time limit, stdin and environment",
          "[scheduler][batch]") {
  Harness h;
  h.runner.respond_ok("sbatch", "7\n");
  h.runner.respond_ok("squeue", "");

  const std::map<std::string, std::string> only{{"PATH", "/usr/bin"},
                                                {"SLURM_CONF", "/etc/s.conf"}};
  REQUIRE(h.commands.run({"sbatch", "--parsable", "-"}, &only, "#!/bin/sh\ntrue\n").has_value());
  REQUIRE(h.commands.run({"squeue"}).has_value());

  const auto calls = h.runner.recorded_calls();
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].argv == std::vector<std::string>{"sbatch", "--parsable", "-"});
  CHECK(calls[0].options.timeout == 7s);
  CHECK(calls[0].options.clear_env);
  CHECK(calls[0].options.env == only);
  REQUIRE(calls[0].options.stdin_data.has_value());
  CHECK(*calls[0].options.stdin_data == "#!/bin/sh\ntrue\n");

  SECTION("without only_env the environment is inherited, and stdin is /dev/null") {
    CHECK(calls[1].options.timeout == 7s);
    CHECK_FALSE(calls[1].options.clear_env);
    CHECK(calls[1].options.env.empty());
    CHECK_FALSE(calls[1].options.stdin_data.has_value());
  }
  SECTION("a retry gets the same options") {
    h.runner.respond("scancel", failed(1, k_transient));
    h.runner.respond_ok("scancel", "");
    const std::map<std::string, std::string> env{{"A", "1"}};
    REQUIRE(h.commands.run({"scancel", "7"}, &env, "in").has_value());
    const auto all = h.runner.recorded_calls();
    REQUIRE(all.size() == 4);
    for (const auto& c : {all[2], all[3]}) {
      CHECK(c.argv == std::vector<std::string>{"scancel", "7"});
      CHECK(c.options.timeout == 7s);
      CHECK(c.options.clear_env);
      CHECK(c.options.env == env);
      CHECK(c.options.stdin_data == std::optional<std::string>("in"));
    }
  }
}

TEST_CASE("batch commands: transient failures are retried with backoff", "[scheduler][batch]") {
  Harness h;
  SECTION("until one succeeds") {
    h.runner.respond("squeue", failed(1, k_transient));
    h.runner.respond("squeue", timed_out());
    h.runner.respond_ok("squeue", "ok\n");
    const auto r = h.commands.run({"squeue"});
    REQUIRE(r.has_value());
    CHECK(r->ok());
    CHECK(r->out == "ok\n");
    CHECK(h.runner.count("squeue") == 3);
    REQUIRE(h.sleeps.size() == 2);
    // Retry n waits between half and all of retry_base * 2^(n-1).
    CHECK(h.sleeps[0] >= 50ms);
    CHECK(h.sleeps[0] <= 100ms);
    CHECK(h.sleeps[1] >= 100ms);
    CHECK(h.sleeps[1] <= 200ms);
    CHECK(h.commands.count("squeue") == 3);
    CHECK(h.commands.errors() == 2);
    CHECK(h.commands.retries() == 2);
  }
  SECTION("until the retries run out: a transient error naming the command") {
    h.runner.respond("squeue", failed(1, "first\n" + k_transient));
    const auto r = h.commands.run({"squeue", "--me"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::transient);
    CHECK(r.error().context == "squeue");
    CHECK(r.error().message ==
          "exit 1: first\nsqueue: error: slurm_receive_msg: Socket timed out on send/recv");
    CHECK(h.runner.count("squeue") == 4); // the first attempt and 3 retries
    REQUIRE(h.sleeps.size() == 3);
    CHECK(h.sleeps[2] >= 200ms);
    CHECK(h.sleeps[2] <= 400ms);
    CHECK(h.commands.errors() == 4);
    CHECK(h.commands.retries() == 3);
  }
  SECTION("a timed-out command is retried whatever its stderr says") {
    h.runner.respond("scancel", timed_out());
    const auto r = h.commands.run({"scancel", "1"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::transient);
    CHECK(r.error().message == "timed out");
    CHECK(h.runner.count("scancel") == 4);
  }
}

TEST_CASE("batch commands: other failures are returned to the caller at once",
          "[scheduler][batch]") {
  Harness h;
  SECTION("a failure that is not transient") {
    h.runner.respond_fail("scancel", 1, "scancel: error: Invalid job id specified\n");
    const auto r = h.commands.run({"scancel", "9"});
    REQUIRE(r.has_value());
    CHECK(r->exit_code == 1);
    CHECK(r->err == "scancel: error: Invalid job id specified\n");
    CHECK(h.runner.count("scancel") == 1);
    CHECK(h.sleeps.empty());
    CHECK(h.commands.errors() == 1);
    CHECK(h.commands.retries() == 0);
  }
  SECTION("the submit program is never retried, even when it timed out") {
    h.runner.respond("sbatch", timed_out());
    const auto r = h.commands.run({"sbatch", "job.sh"});
    REQUIRE(r.has_value());
    CHECK(r->timed_out);
    CHECK(h.runner.count("sbatch") == 1);
    CHECK(h.sleeps.empty());
    CHECK(h.commands.errors() == 1);
    CHECK(h.commands.retries() == 0);
  }
  SECTION("the submit program is never retried on a transient stderr") {
    h.runner.respond("sbatch", failed(1, k_transient));
    const auto r = h.commands.run({"sbatch", "job.sh"});
    REQUIRE(r.has_value());
    CHECK(r->err == k_transient);
    CHECK(h.runner.count("sbatch") == 1);
    CHECK(h.sleeps.empty());
  }
  SECTION("a command that cannot be run is the runner's error, not retried") {
    // FakeCommandRunner has no answer for squeue: an error, as for a missing program.
    const auto r = h.commands.run({"squeue"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::command);
    CHECK(r.error().message == "no scripted response");
    CHECK(h.runner.count("squeue") == 1);
    CHECK(h.sleeps.empty());
    CHECK(h.commands.errors() == 1);
  }
}

TEST_CASE("batch commands: backoff is exponential, jittered and capped", "[scheduler][batch]") {
  Harness h;
  const auto range = [&](int attempt) {
    h.sleeps.clear();
    for (int i = 0; i < 200; ++i) {
      h.commands.backoff(attempt);
    }
    const auto [lo, hi] = std::minmax_element(h.sleeps.begin(), h.sleeps.end());
    return std::pair{*lo, *hi};
  };
  // Attempt n: uniform in [cap/2, cap], cap = 100ms * 2^(n-1), growing up to 2^6.
  const std::pair<int, std::chrono::milliseconds> caps[] = {
      {1, 100ms}, {2, 200ms}, {3, 400ms}, {4, 800ms}, {7, 6400ms}, {8, 6400ms}, {30, 6400ms}};
  for (const auto& [attempt, cap] : caps) {
    INFO("attempt " << attempt);
    const auto [lo, hi] = range(attempt);
    CHECK(lo >= cap / 2);
    CHECK(hi <= cap);
    CHECK(lo < hi); // jittered: 200 draws are not all equal
  }
  SECTION("attempts below 1 wait like the first") {
    for (int attempt : {0, -5}) {
      const auto [lo, hi] = range(attempt);
      CHECK(lo >= 50ms);
      CHECK(hi <= 100ms);
    }
  }
}

TEST_CASE("batch commands: without an injected sleep, retries really wait", "[scheduler][batch]") {
  FakeCommandRunner runner;
  RetryOptions o;
  o.retries = 1;
  o.retry_base = 40ms;
  BatchCommands commands(runner, o, {"squeue"}, "sbatch", [](std::string_view) { return true; });
  runner.respond_fail("squeue", 1, "busy\n");
  runner.respond_ok("squeue", "ok\n");
  const auto start = std::chrono::steady_clock::now();
  const auto r = commands.run({"squeue"});
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(r.has_value());
  CHECK(r->ok());
  CHECK(took >= 20ms);
  CHECK(took < 1s);
}

TEST_CASE("batch commands: counts by program and Prometheus metrics", "[scheduler][batch]") {
  Harness h;
  h.runner.respond("squeue", failed(1, k_transient));
  h.runner.respond_ok("squeue", "");
  h.runner.respond_ok("scancel", "");
  h.runner.respond_ok("sinfo", "");
  REQUIRE(h.commands.run({"squeue"}).has_value());
  REQUIRE(h.commands.run({"scancel", "1"}).has_value());
  REQUIRE(h.commands.run({"scancel", "2"}).has_value());
  REQUIRE(h.commands.run({"sinfo"}).has_value()); // run, but not a counted program

  CHECK(h.commands.count("squeue") == 2);
  CHECK(h.commands.count("scancel") == 2);
  CHECK(h.commands.count("sbatch") == 0);
  CHECK(h.commands.count("sinfo") == 0);
  CHECK(h.runner.count("sinfo") == 1);

  const std::string m = h.commands.metrics("Slurm");
  CHECK_THAT(m, Catch::Contains("# HELP softpack_scheduler_commands_total Slurm commands run, by "
                                "command.\n# TYPE softpack_scheduler_commands_total counter\n"));
  CHECK_THAT(m, Catch::Contains("softpack_scheduler_commands_total{command=\"sbatch\"} 0\n"));
  CHECK_THAT(m, Catch::Contains("softpack_scheduler_commands_total{command=\"squeue\"} 2\n"));
  CHECK_THAT(m, Catch::Contains("softpack_scheduler_commands_total{command=\"scancel\"} 2\n"));
  CHECK_THAT(m, Catch::Contains("softpack_scheduler_command_errors_total 1\n"));
  CHECK_THAT(m, Catch::Contains("softpack_scheduler_command_retries_total 1\n"));
  CHECK_THAT(m, Catch::Contains("softpack_scheduler_command_seconds_total "));
  CHECK(m.find("sinfo") == std::string::npos);
}

TEST_CASE("batch commands: failure_summary gives the status and the last lines",
          "[scheduler][batch]") {
  CommandResult r = failed(2, "one\ntwo\nthree\nfour\n");
  CHECK(failure_summary(r) == "exit 2: two\nthree\nfour");
  SECTION("stdout when stderr is empty") {
    r.err.clear();
    r.out = "said on stdout\n";
    CHECK(failure_summary(r) == "exit 2: said on stdout");
  }
  SECTION("the status alone when both are empty") {
    r.err.clear();
    CHECK(failure_summary(r) == "exit 2");
    CHECK(failure_summary(timed_out()) == "timed out");
  }
}

TEST_CASE("batch commands: a submission is looked up before it is tried again",
          "[scheduler][batch]") {
  Harness h;
  const BatchCommands::Submission sub{
      {"sbatch", "--parsable", "job.sh"}, {{"PATH", "/usr/bin"}}, std::nullopt, "sbatch sp.x"};
  int lookups = 0;
  std::optional<JobId> exists;
  const auto parse = [](std::string_view out) -> Expected<JobId> {
    return JobId{std::string(out.substr(0, out.find('\n')))};
  };
  const auto find = [&]() -> Expected<std::optional<JobId>> {
    ++lookups;
    return exists;
  };

  SECTION("a success: the id, no lookup") {
    h.runner.respond_ok("sbatch", "77\n");
    auto r = h.commands.submit(sub, parse, find);
    REQUIRE(r);
    CHECK(r->value == "77");
    CHECK(lookups == 0);
    // The submission's whole environment went to the command.
    REQUIRE(h.runner.recorded_calls().size() == 1);
    CHECK(h.runner.recorded_calls()[0].options.clear_env);
    CHECK(h.runner.recorded_calls()[0].options.env.at("PATH") == "/usr/bin");
  }
  SECTION("an unknown outcome that made the job: taken, not submitted again") {
    h.runner.respond("sbatch", timed_out());
    exists = JobId{"78"};
    auto r = h.commands.submit(sub, parse, find);
    REQUIRE(r);
    CHECK(r->value == "78");
    CHECK(lookups == 1);
    CHECK(h.runner.count("sbatch") == 1);
  }
  SECTION("an unknown outcome that made nothing: looked up, then tried again") {
    h.runner.respond("sbatch", failed(1, "sbatch: error: Socket timed out on send/recv"));
    h.runner.respond_ok("sbatch", "79\n");
    auto r = h.commands.submit(sub, parse, find);
    REQUIRE(r);
    CHECK(r->value == "79");
    CHECK(lookups == 1);
    CHECK(h.runner.count("sbatch") == 2);
    CHECK(h.sleeps.size() == 1);
  }
  SECTION("still unknown after every retry: transient") {
    h.runner.respond("sbatch", timed_out());
    auto r = h.commands.submit(sub, parse, find);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::transient);
    CHECK(r.error().context == "sbatch sp.x");
    CHECK(h.runner.count("sbatch") == 4); // the first try and 3 retries
    CHECK(lookups == 4);
  }
  SECTION("a refusal: the scheduler's error, at once") {
    h.runner.respond("sbatch", failed(1, "sbatch: error: Invalid account or account/partition"));
    auto r = h.commands.submit(sub, parse, find);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::scheduler);
    CHECK_THAT(r.error().message, Catch::Contains("Invalid account"));
    CHECK(lookups == 0);
    CHECK(h.runner.count("sbatch") == 1);
  }
}
