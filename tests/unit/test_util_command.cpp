// util/command: SystemCommandRunner against real programs, and the FakeCommandRunner that other
// tests use in its place.

#include "support/fake_command_runner.hpp"
#include "support/temp_dir.hpp"
#include "util/command.hpp"
#include "util/text.hpp"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

extern char** environ;

using namespace softpack;
using softpack::testing::FakeCommandRunner;
using softpack::testing::TempDir;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

CommandResult run_ok(const std::vector<std::string>& argv, const CommandOptions& options = {}) {
  SystemCommandRunner runner;
  auto r = runner.run(argv, options);
  INFO(describe_argv(argv));
  REQUIRE(r.has_value());
  return *r;
}

// A NUL-separated `env -0` listing as a set of "NAME=value" entries.
std::set<std::string> env_entries(const std::string& listing) {
  std::set<std::string> out;
  for (const auto& entry : split(listing, '\0')) {
    if (!entry.empty()) {
      out.insert(entry);
    }
  }
  return out;
}

} // namespace

TEST_CASE("command: stdout, stderr and the exit status are captured separately", "[command]") {
  const auto r = run_ok({"sh", "-c", "printf 'to out\\n'; printf 'to err' >&2; exit 3"});
  CHECK(r.out == "to out\n");
  CHECK(r.err == "to err");
  CHECK(r.exit_code == 3);
  CHECK(r.signal == 0);
  CHECK_FALSE(r.timed_out);
  CHECK_FALSE(r.ok());
  CHECK(r.status_text() == "exit 3");

  SECTION("success") {
    const auto ok = run_ok({"sh", "-c", "printf yes"});
    CHECK(ok.ok());
    CHECK(ok.exit_code == 0);
    CHECK(ok.out == "yes");
    CHECK(ok.err.empty());
  }
  SECTION("a child ended by a signal") {
    const auto killed = run_ok({"sh", "-c", "kill -TERM $$"});
    CHECK(killed.signal == SIGTERM);
    CHECK_FALSE(killed.timed_out);
    CHECK_FALSE(killed.ok());
    CHECK(killed.status_text() == "killed by signal " + std::to_string(SIGTERM));
  }
  SECTION("arguments reach the program as they are, without a shell") {
    const auto echoed = run_ok({"printf", "%s|", "two words", "$HOME", "'q'", "*"});
    CHECK(echoed.out == "two words|$HOME|'q'|*|");
  }
}

TEST_CASE("command: both streams are read while the child runs", "[command]") {
  // 1 MiB on each stream is far beyond a pipe's buffer: reading one stream to its end before
  // the other would deadlock.
  const auto r = run_ok({"sh", "-c", "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2"});
  CHECK(r.ok());
  CHECK(r.out.size() == 1048576);
  CHECK(r.err.size() == 1048576);

  SECTION("output past max_output_bytes is discarded, and the child still finishes") {
    CommandOptions o;
    o.max_output_bytes = 1000;
    const auto capped = run_ok({"sh", "-c", "head -c 300000 /dev/zero; echo tail >&2"}, o);
    CHECK(capped.ok());
    CHECK(capped.out.size() == 1000);
    CHECK(capped.err == "tail\n");
  }
}

TEST_CASE("command: a command over its time limit is killed and reported timed out",
          "[command][timeout]") {
  CommandOptions o;
  o.timeout = 300ms;

  SECTION("a plain command") {
    const auto start = Clock::now();
    const auto r = run_ok({"sleep", "10"}, o);
    const auto took = Clock::now() - start;
    CHECK(r.timed_out);
    CHECK_FALSE(r.ok());
    CHECK(r.signal == SIGTERM);
    CHECK(r.status_text() == "timed out");
    CHECK(took >= 300ms);
    CHECK(took < 1500ms);
  }
  SECTION("its whole process group, including a background child holding the pipes") {
    // Were only `sh` killed, the backgrounded sleep would keep stdout open for 10 s.
    const auto start = Clock::now();
    const auto r = run_ok({"sh", "-c", "sleep 10 & sleep 10; echo never"}, o);
    CHECK(r.timed_out);
    CHECK(r.out.empty());
    CHECK(Clock::now() - start < 1500ms);
  }
  SECTION("a command that closed its output and went on running") {
    const auto start = Clock::now();
    const auto r = run_ok({"sh", "-c", "printf early; exec >/dev/null 2>&1; sleep 10"}, o);
    CHECK(r.timed_out);
    CHECK(r.out == "early");
    CHECK(Clock::now() - start < 1500ms);
  }
  SECTION("a command that ends in time is not timed out") {
    const auto r = run_ok({"sh", "-c", "sleep 0.05; printf done"}, o);
    CHECK_FALSE(r.timed_out);
    CHECK(r.ok());
    CHECK(r.out == "done");
  }
}

TEST_CASE("command: stdin gets stdin_data, or /dev/null", "[command]") {
  CommandOptions o;
  SECTION("a short text") {
    o.stdin_data = "line one\nline two\n";
    CHECK(run_ok({"cat"}, o).out == "line one\nline two\n");
  }
  SECTION("more than a pipe holds, written while the output is read") {
    std::string big;
    for (int i = 0; big.size() < (2u << 20); ++i) {
      big += std::to_string(i) + "\n";
    }
    o.stdin_data = big;
    const auto r = run_ok({"cat"}, o);
    CHECK(r.ok());
    CHECK(r.out.size() == big.size());
    CHECK(r.out == big);
  }
  SECTION("empty data: end of file at once") {
    o.stdin_data = "";
    const auto r = run_ok({"wc", "-c"}, o);
    CHECK(trim(r.out) == "0");
  }
  SECTION("no data: /dev/null, so a reader does not wait") {
    o.timeout = 1s;
    const auto r = run_ok({"sh", "-c", "cat; readlink /proc/self/fd/0"}, o);
    CHECK_FALSE(r.timed_out);
    CHECK(r.out == "/dev/null\n");
  }
}

TEST_CASE("command: the environment is inherited, extended or replaced", "[command][env]") {
  std::set<std::string> ours;
  for (char** e = environ; e && *e; ++e) {
    ours.insert(*e);
  }
  REQUIRE_FALSE(ours.empty());
  CommandOptions o;

  SECTION("inherited as it is") {
    CHECK(env_entries(run_ok({"/usr/bin/env", "-0"}, o).out) == ours);
  }
  SECTION("env adds and replaces variables") {
    o.env = {{"SOFTPACK_TEST_ADDED", "a value with spaces"}, {"PATH", "/nowhere"}};
    auto expected = ours;
    std::erase_if(expected, [](const std::string& e) { return e.starts_with("PATH="); });
    expected.insert("SOFTPACK_TEST_ADDED=a value with spaces");
    expected.insert("PATH=/nowhere");
    CHECK(env_entries(run_ok({"/usr/bin/env", "-0"}, o).out) == expected);
  }
  SECTION("clear_env: only env") {
    o.clear_env = true;
    o.env = {{"ONLY", "1"}, {"ALSO", "x=y"}};
    CHECK(env_entries(run_ok({"/usr/bin/env", "-0"}, o).out) ==
          std::set<std::string>{"ONLY=1", "ALSO=x=y"});
  }
  SECTION("clear_env without env: an empty environment") {
    o.clear_env = true;
    CHECK(run_ok({"/usr/bin/env", "-0"}, o).out.empty());
  }
}

TEST_CASE("command: cwd sets the child's working directory", "[command]") {
  TempDir dir;
  CommandOptions o;
  o.cwd = dir.path();
  CHECK(run_ok({"pwd", "-P"}, o).out == std::filesystem::canonical(dir.path()).string() + "\n");
}

TEST_CASE("command: a command that cannot be run is an error, not a result", "[command]") {
  SystemCommandRunner runner;
  SECTION("a program not on PATH") {
    const auto r = runner.run({"softpack-no-such-program", "--help"}, {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::command);
    CHECK(r.error().context == "softpack-no-such-program");
    CHECK_THAT(r.error().message, Catch::Contains("No such file"));
  }
  SECTION("a path that does not exist") {
    const auto r = runner.run({"/nonexistent/softpack/tool"}, {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::command);
  }
  SECTION("a file that is not executable") {
    TempDir dir;
    const auto script = dir.write("not-executable.sh", "#!/bin/sh\necho hi\n", 0644);
    const auto r = runner.run({script.string()}, {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::command);
    CHECK_THAT(r.error().message, Catch::Contains("Permission denied"));
  }
  SECTION("an empty command line") {
    const auto r = runner.run({}, {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::internal);
  }
  SECTION("a missing working directory") {
    CommandOptions o;
    o.cwd = "/nonexistent/softpack/dir";
    const auto r = runner.run({"pwd"}, o);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::command);
  }
}

TEST_CASE("command: find_program and describe_argv", "[command]") {
  const auto sh = find_program("sh");
  REQUIRE(sh.has_value());
  CHECK(sh->is_absolute());
  CHECK(sh->filename() == "sh");
  CHECK_FALSE(find_program("softpack-no-such-program").has_value());
  CHECK(find_program("./relative/tool") == std::filesystem::path("./relative/tool"));
  CHECK(describe_argv({"git", "commit", "-m", "two words"}) == "git commit -m 'two words'");
}

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
