#include "scheduler/local/local_executor.hpp"
#include "support/run_io.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

using namespace softpack;
using namespace std::chrono_literals;
using scheduler::JobId;
using scheduler::JobInfo;
using scheduler::JobSpec;
using scheduler::JobState;
using scheduler::LocalExecutor;
using scheduler::LocalExecutorOptions;
using testing::TempDir;

namespace {

namespace asio = boost::asio;

// Runs the io_context until `done()` holds or `limit` has passed; returns whether it held.
template <typename Pred>
bool run_until(asio::io_context& io, Pred done, std::chrono::milliseconds limit = 3000ms) {
  return testing::run_io_until(io, done, limit, 10ms);
}

// A job whose script is `body` (after a bash shebang and `set -eu`), run in `dir` and logging
// to logs/<name>.out there.
JobSpec make_job(const TempDir& dir, const std::string& name, const std::string& body,
                 std::vector<JobId> after = {}) {
  JobSpec js;
  js.name = name;
  js.comment = "build-1";
  js.script = dir.write("scripts/" + name + ".sh", "#!/bin/bash\nset -eu\n" + body + "\n", 0755);
  js.workdir = dir.path();
  std::filesystem::create_directories(dir / "logs");
  js.stdout_path = dir / ("logs/" + name + ".out");
  js.stderr_path = js.stdout_path;
  js.after_ok = std::move(after);
  return js;
}

JobId submit(LocalExecutor& ex, const JobSpec& js) {
  auto id = ex.submit(js);
  REQUIRE(id.has_value());
  return *id;
}

JobInfo info_of(LocalExecutor& ex, const JobId& id) {
  std::vector<JobId> ids{id};
  auto infos = ex.poll(ids);
  REQUIRE(infos.has_value());
  REQUIRE(infos->size() == 1);
  return infos->front();
}

bool ended(LocalExecutor& ex, const JobId& id) {
  return scheduler::is_final(info_of(ex, id).state);
}

// Nanoseconds since the epoch, as `date +%s%N` wrote them into a file.
long long stamp(const TempDir& dir, const std::string& file) {
  const std::string text = dir.read(file);
  REQUIRE_FALSE(text.empty());
  return std::stoll(text);
}

// A process is gone when /proc no longer has it or only its zombie is left (its parent, maybe
// init, has not reaped it yet).
bool process_gone(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) {
    return true;
  }
  const auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] == 'Z' ||
         line[close + 2] == 'X';
}

bool wait_gone(pid_t pid, std::chrono::milliseconds limit = 1000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!process_gone(pid)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

pid_t read_pid(const TempDir& dir, const std::string& file) {
  const std::string text = dir.read(file);
  REQUIRE_FALSE(text.empty());
  return static_cast<pid_t>(std::stol(text));
}

// Starts a background `sleep 30`, records its pid in <name>.child and waits for it.
std::string sleeping_body(const std::string& name) {
  return "sleep 30 &\necho $! >" + name + ".child.tmp\nmv " + name + ".child.tmp " + name +
         ".child\nwait";
}

} // namespace

TEST_CASE("local: a chain of three jobs runs in order, each after the one before ended",
          "[local]") {
  TempDir dir;
  asio::io_context io;
  LocalExecutor ex(io, LocalExecutorOptions{.max_running = 4, .kill_grace = 1s});
  std::vector<JobId> ids;
  for (const std::string name : {"a", "b", "c"}) {
    std::vector<JobId> after;
    if (!ids.empty()) {
      after.push_back(ids.back());
    }
    ids.push_back(submit(
        ex, make_job(dir, name,
                     "date +%s%N >" + name + ".start\nsleep 0.1\ndate +%s%N >" + name + ".end",
                     after)));
  }
  CHECK(info_of(ex, ids[1]).state == JobState::pending);
  CHECK(ex.active_jobs() == 3);

  REQUIRE(run_until(io, [&] { return ended(ex, ids[2]); }));
  for (const auto& id : ids) {
    const JobInfo info = info_of(ex, id);
    CHECK(info.state == JobState::completed);
    CHECK(info.exit_code == 0);
    CHECK(info.started.has_value());
    CHECK(info.ended.has_value());
  }
  CHECK(stamp(dir, "b.start") >= stamp(dir, "a.end"));
  CHECK(stamp(dir, "c.start") >= stamp(dir, "b.end"));
  CHECK(*info_of(ex, ids[1]).started >= *info_of(ex, ids[0]).ended);
  CHECK(ex.active_jobs() == 0);
}

TEST_CASE("local: a failing job cancels its dependents, which never start", "[local]") {
  TempDir dir;
  asio::io_context io;
  LocalExecutor ex(io, LocalExecutorOptions{.max_running = 2, .kill_grace = 1s});
  const JobId a = submit(ex, make_job(dir, "a", "touch a.ran"));
  const JobId b = submit(ex, make_job(dir, "b", "touch b.ran\nexit 3", {a}));
  const JobId c = submit(ex, make_job(dir, "c", "touch c.ran", {b}));
  const JobId d = submit(ex, make_job(dir, "d", "touch d.ran", {c})); // two levels down

  REQUIRE(run_until(io, [&] { return ended(ex, d); }));
  CHECK(info_of(ex, a).state == JobState::completed);
  const JobInfo bi = info_of(ex, b);
  CHECK(bi.state == JobState::failed);
  CHECK(bi.exit_code == 3);
  CHECK_THAT(bi.reason, Catch::Contains("exit code 3"));
  for (const auto& [id, marker] : {std::pair{c, "c.ran"}, std::pair{d, "d.ran"}}) {
    const JobInfo ci = info_of(ex, id);
    CHECK(ci.state == JobState::cancelled);
    CHECK_THAT(ci.reason, Catch::Contains("dependency failed"));
    CHECK_FALSE(ci.started.has_value());
    CHECK_FALSE(std::filesystem::exists(dir / marker));
  }
  CHECK_THAT(info_of(ex, c).reason, Catch::Contains(b.value));
  CHECK(std::filesystem::exists(dir / "b.ran"));
}

TEST_CASE("local: no more than max_running jobs run at once", "[local]") {
  TempDir dir;
  asio::io_context io;
  LocalExecutor ex(io, LocalExecutorOptions{.max_running = 2, .kill_grace = 1s});
  std::vector<JobId> ids;
  const std::vector<std::string> names{"j1", "j2", "j3", "j4"};
  for (const auto& name : names) {
    ids.push_back(submit(
        ex, make_job(dir, name,
                     "date +%s%N >" + name + ".start\nsleep 0.3\ndate +%s%N >" + name + ".end")));
  }
  REQUIRE(run_until(io, [&] {
    return std::all_of(ids.begin(), ids.end(), [&](const JobId& id) { return ended(ex, id); });
  }));
  std::vector<std::pair<long long, int>> events; // (time, +1 start / -1 end); ends sort first
  for (std::size_t i = 0; i < ids.size(); ++i) {
    CHECK(info_of(ex, ids[i]).state == JobState::completed);
    events.emplace_back(stamp(dir, names[i] + ".start"), +1);
    events.emplace_back(stamp(dir, names[i] + ".end"), -1);
  }
  std::sort(events.begin(), events.end());
  int now = 0;
  int most = 0;
  for (const auto& [t, delta] : events) {
    now += delta;
    most = std::max(most, now);
  }
  CHECK(most == 2); // the limit holds, and it is used
}

TEST_CASE("local: a job over its time limit ends `timeout` and its process group is killed",
          "[local]") {
  TempDir dir;
  asio::io_context io;
  LocalExecutor ex(io, LocalExecutorOptions{.max_running = 2, .kill_grace = 1s});
  std::string body = sleeping_body("t");
  std::chrono::milliseconds within = 3000ms;
  SECTION("the script dies of SIGTERM") {}
  SECTION("the script ignores SIGTERM, so SIGKILL follows after the grace period") {
    body = "trap '' TERM\n" + body;
  }
  JobSpec js = make_job(dir, "t", body);
  js.resources.time_limit = 1s;
  const auto t0 = std::chrono::steady_clock::now();
  const JobId id = submit(ex, js);
  REQUIRE(run_until(
      io, [&] { return ended(ex, id); }, within));
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took >= 900ms);
  const JobInfo info = info_of(ex, id);
  CHECK(info.state == JobState::timeout);
  CHECK_THAT(info.reason, Catch::Contains("time limit"));
  CHECK(wait_gone(read_pid(dir, "t.child")));
}

TEST_CASE("local: cancelling jobs", "[local]") {
  TempDir dir;
  asio::io_context io;
  LocalExecutor ex(io, LocalExecutorOptions{.max_running = 1, .kill_grace = 1s});

  SECTION("a running job ends `cancelled` and its processes are gone") {
    const JobId id = submit(ex, make_job(dir, "r", "echo $$ >r.pid\n" + sleeping_body("r")));
    REQUIRE(run_until(io, [&] { return std::filesystem::exists(dir / "r.child"); }));
    CHECK(info_of(ex, id).state == JobState::running);
    std::vector<JobId> ids{id};
    REQUIRE(ex.cancel(ids).has_value());
    REQUIRE(run_until(io, [&] { return ended(ex, id); }));
    CHECK(info_of(ex, id).state == JobState::cancelled);
    CHECK(wait_gone(read_pid(dir, "r.pid")));
    CHECK(wait_gone(read_pid(dir, "r.child")));
  }

  SECTION("a pending job ends at once, and its dependents after it") {
    const JobId running = submit(ex, make_job(dir, "r", sleeping_body("r")));
    const JobId waiting = submit(ex, make_job(dir, "w", "touch w.ran"));
    const JobId dependent = submit(ex, make_job(dir, "x", "touch x.ran", {waiting}));
    REQUIRE(run_until(io, [&] { return info_of(ex, running).state == JobState::running; }));
    CHECK(info_of(ex, waiting).state == JobState::pending); // max_running = 1

    std::vector<JobId> ids{waiting};
    REQUIRE(ex.cancel(ids).has_value());
    CHECK(info_of(ex, waiting).state == JobState::cancelled); // without the io_context
    REQUIRE(run_until(io, [&] { return ended(ex, dependent); }));
    CHECK(info_of(ex, dependent).state == JobState::cancelled);
    CHECK_THAT(info_of(ex, dependent).reason, Catch::Contains("dependency failed"));

    std::vector<JobId> rest{running, waiting}; // an ended job is not an error
    REQUIRE(ex.cancel(rest).has_value());
    REQUIRE(run_until(io, [&] { return ended(ex, running); }));
    CHECK(info_of(ex, running).state == JobState::cancelled);
    CHECK_FALSE(std::filesystem::exists(dir / "w.ran"));
    CHECK_FALSE(std::filesystem::exists(dir / "x.ran"));
  }
  CHECK(ex.active_jobs() == 0);
}

TEST_CASE("local: unknown ids", "[local]") {
  TempDir dir;
  asio::io_context io;
  LocalExecutor ex(io, LocalExecutorOptions{});

  SECTION("poll answers `unknown` with a reason") {
    std::vector<JobId> ids{JobId{"local-999"}};
    auto infos = ex.poll(ids);
    REQUIRE(infos.has_value());
    REQUIRE(infos->size() == 1);
    CHECK(infos->front().id.value == "local-999");
    CHECK(infos->front().state == JobState::unknown);
    CHECK_FALSE(infos->front().reason.empty());
  }
  SECTION("a dependency on an unknown job is a submit error") {
    auto r = ex.submit(make_job(dir, "a", "true", {JobId{"local-999"}}));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::invalid_input);
    CHECK_THAT(r.error().describe(), Catch::Contains("local-999"));
    CHECK(ex.active_jobs() == 0);
  }
  SECTION("cancelling an unknown id is not an error") {
    std::vector<JobId> ids{JobId{"local-999"}};
    CHECK(ex.cancel(ids).has_value());
  }
}

TEST_CASE("local: jobs get a minimal environment", "[local]") {
  TempDir dir;
  asio::io_context io;
  LocalExecutor ex(io, LocalExecutorOptions{});
  ::setenv("SOFTPACK_TEST_LEAK", "from-the-test-process", 1);
  const JobId id = submit(ex, make_job(dir, "e", "env >env.txt"));
  REQUIRE(run_until(io, [&] { return ended(ex, id); }));
  ::unsetenv("SOFTPACK_TEST_LEAK");
  REQUIRE(info_of(ex, id).state == JobState::completed);

  std::map<std::string, std::string> env;
  std::istringstream in(dir.read("env.txt"));
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    REQUIRE(eq != std::string::npos);
    env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  CHECK(env.count("SOFTPACK_TEST_LEAK") == 0);
  CHECK(env["PATH"] == "/usr/local/bin:/usr/bin:/bin");
  CHECK(env["SOFTPACK_JOB_ID"] == id.value);
  // What bash adds by itself, plus what the executor documents.
  const std::set<std::string> allowed{
      "PATH", "HOME",   "USER",  "LOGNAME", "LANG", "TMPDIR", "SOFTPACK_JOB_ID",
      "PWD",  "OLDPWD", "SHLVL", "_"};
  for (const auto& [name, value] : env) {
    INFO(name << "=" << value);
    CHECK(allowed.count(name) == 1);
  }
  CHECK(std::filesystem::equivalent(env["PWD"], dir.path())); // runs in its workdir
}

TEST_CASE("local: stdout and stderr go to the log files", "[local]") {
  TempDir dir;
  asio::io_context io;
  LocalExecutor ex(io, LocalExecutorOptions{});
  JobSpec js =
      make_job(dir, "o", "echo to-stdout\necho to-stderr >&2\nread -r x || echo stdin-empty");

  SECTION("one log for both") {
    const JobId id = submit(ex, js);
    REQUIRE(run_until(io, [&] { return ended(ex, id); }));
    const std::string log = dir.read("logs/o.out");
    CHECK_THAT(log, Catch::Contains("to-stdout"));
    CHECK_THAT(log, Catch::Contains("to-stderr"));
    CHECK_THAT(log, Catch::Contains("stdin-empty"));
  }
  SECTION("separate logs") {
    js.stderr_path = dir / "logs/o.err";
    const JobId id = submit(ex, js);
    REQUIRE(run_until(io, [&] { return ended(ex, id); }));
    CHECK_THAT(dir.read("logs/o.out"), Catch::Contains("to-stdout"));
    CHECK_THAT(dir.read("logs/o.out"), !Catch::Contains("to-stderr"));
    CHECK_THAT(dir.read("logs/o.err"), Catch::Contains("to-stderr"));
  }
}

TEST_CASE("local: find_submitted finds the job of the same stage of the same build", "[local]") {
  TempDir dir;
  asio::io_context io;
  LocalExecutor ex(io, LocalExecutorOptions{});
  JobSpec js = make_job(dir, "sp.alice.env-1.build", "true");
  const JobId first = submit(ex, js);
  const JobId second = submit(ex, js); // a resubmission: the newest wins
  auto found = ex.find_submitted(js);
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  CHECK(**found == second);
  CHECK(**found != first);

  JobSpec other_build = js;
  other_build.comment = "build-2";
  JobSpec other_stage = js;
  other_stage.name = "sp.alice.env-1.module";
  for (const auto& spec : {other_build, other_stage}) {
    auto none = ex.find_submitted(spec);
    REQUIRE(none.has_value());
    CHECK_FALSE(none->has_value());
  }
  REQUIRE(run_until(io, [&] { return ex.active_jobs() == 0; }));
}

TEST_CASE("local: the change listener hears of starts and ends", "[local]") {
  TempDir dir;
  asio::io_context io;
  LocalExecutor ex(io, LocalExecutorOptions{});
  std::atomic<int> calls{0};
  ex.set_change_listener([&] { ++calls; });
  const JobId id = submit(ex, make_job(dir, "l", "true"));
  REQUIRE(run_until(io, [&] { return ended(ex, id); }));
  CHECK(calls >= 2); // started, ended

  ex.set_change_listener(nullptr);
  const int before = calls;
  const JobId id2 = submit(ex, make_job(dir, "l2", "true"));
  REQUIRE(run_until(io, [&] { return ended(ex, id2); }));
  CHECK(calls == before);
}

TEST_CASE("local: job ids are not reused by another executor (a restarted service)", "[local]") {
  TempDir dir;
  asio::io_context io;
  std::set<std::string> seen;
  for (int run = 0; run < 2; ++run) {
    LocalExecutor ex(io, LocalExecutorOptions{});
    const JobId id = submit(ex, make_job(dir, "j" + std::to_string(run), "true"));
    CHECK_THAT(id.value, Catch::StartsWith("local-"));
    CHECK(seen.insert(id.value).second);
    REQUIRE(run_until(io, [&] { return ex.active_jobs() == 0; }));
  }
}

TEST_CASE("local: nothing a job started outlives it", "[local]") {
  TempDir dir;
  asio::io_context io;
  LocalExecutor ex(io, LocalExecutorOptions{.max_running = 2, .kill_grace = 1s});
  // The child ignores SIGTERM; the script itself does not.
  const std::string stubborn = "(trap '' TERM; exec sleep 30) &\necho $! >s.child\n";
  JobState expected = JobState::completed;
  JobId id;
  SECTION("a job over its time limit") {
    JobSpec js = make_job(dir, "s", stubborn + "wait");
    js.resources.time_limit = 1s;
    id = submit(ex, js);
    expected = JobState::timeout;
  }
  SECTION("a cancelled job") {
    id = submit(ex, make_job(dir, "s", stubborn + "wait"));
    REQUIRE(run_until(io, [&] { return std::filesystem::exists(dir / "s.child"); }));
    std::vector<JobId> ids{id};
    REQUIRE(ex.cancel(ids).has_value());
    expected = JobState::cancelled;
  }
  SECTION("a job whose script ends while a background process runs") {
    id = submit(ex, make_job(dir, "s", stubborn + "true"));
  }
  REQUIRE(run_until(io, [&] { return ex.active_jobs() == 0; }));
  CHECK(info_of(ex, id).state == expected);
  CHECK(wait_gone(read_pid(dir, "s.child"), 1500ms));
}
