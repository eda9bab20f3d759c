// util/command: SystemCommandRunner against real programs, and the FakeCommandRunner that other
// tests use in its place.

#include "support/fake_command_runner.hpp"
#include "util/command.hpp"

#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace softpack;
using softpack::testing::FakeCommandRunner;
using namespace std::chrono_literals;

TEST_CASE("command: the fake runner records each call's argv and options", "[command][fake]") {
  FakeCommandRunner runner;
  runner.respond_ok("sbatch", "Submitted batch job 7\n");
  runner.respond_fail("squeue", 1, "slurm_load_jobs error\n");

  CommandOptions submit;
  submit.timeout = 1500ms;
  submit.cwd = "/data/builds/b1";
  submit.stdin_data = "#!/bin/bash\necho hi\n";
  submit.env = {{"SLURM_CONF", "/etc/slurm/slurm.conf"}, {"PATH", "/usr/bin"}};
  submit.clear_env = true;
  submit.max_output_bytes = 4096;
  const auto submitted = runner.run({"sbatch", "--parsable", "-"}, submit);
  REQUIRE(submitted.has_value());
  CHECK(submitted->out == "Submitted batch job 7\n");

  const auto polled = runner.run({"squeue", "--me"}, CommandOptions{});
  REQUIRE(polled.has_value());
  CHECK(polled->exit_code == 1);

  const auto calls = runner.recorded_calls();
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].argv == std::vector<std::string>{"sbatch", "--parsable", "-"});
  const CommandOptions& got = calls[0].options;
  CHECK(got.timeout == 1500ms);
  REQUIRE(got.cwd.has_value());
  CHECK(got.cwd->string() == "/data/builds/b1");
  REQUIRE(got.stdin_data.has_value());
  CHECK(*got.stdin_data == "#!/bin/bash\necho hi\n");
  CHECK(got.env == submit.env);
  CHECK(got.clear_env);
  CHECK(got.max_output_bytes == 4096);

  SECTION("the defaults are recorded as defaults") {
    const CommandOptions& plain = calls[1].options;
    CHECK(calls[1].argv == std::vector<std::string>{"squeue", "--me"});
    CHECK(plain.timeout == CommandOptions{}.timeout);
    CHECK_FALSE(plain.cwd.has_value());
    CHECK_FALSE(plain.stdin_data.has_value());
    CHECK(plain.env.empty());
    CHECK_FALSE(plain.clear_env);
  }
  SECTION("calls() and count() still report the argv") {
    CHECK(runner.calls() ==
          std::vector<std::vector<std::string>>{{"sbatch", "--parsable", "-"}, {"squeue", "--me"}});
    CHECK(runner.count("sbatch") == 1);
    CHECK(runner.count("squeue") == 1);
    CHECK(runner.count("scancel") == 0);
  }
  SECTION("a program without a scripted answer is an error, and still recorded") {
    const auto r = runner.run({"scancel", "7"}, submit);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::command);
    CHECK(r.error().context == "scancel");
    REQUIRE(runner.recorded_calls().size() == 3);
    CHECK(runner.recorded_calls()[2].options.timeout == 1500ms);
  }
}

TEST_CASE("command: the fake runner answers in order and repeats the last", "[command][fake]") {
  FakeCommandRunner runner;
  runner.respond_fail("bjobs", 255, "LSF is down. Please wait ...\n");
  runner.respond_ok("bjobs", "first\n");
  runner.respond_ok("bjobs", "second\n");
  std::vector<std::string> answers;
  for (int i = 0; i < 4; ++i) {
    const auto r = runner.run({"bjobs"}, {});
    REQUIRE(r.has_value());
    answers.push_back(r->ok() ? r->out : r->err);
  }
  CHECK(answers == std::vector<std::string>{"LSF is down. Please wait ...\n", "first\n", "second\n",
                                            "second\n"});
}
