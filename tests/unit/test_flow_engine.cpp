#include "flow/engine.hpp"
#include "support/fake_publisher.hpp"
#include "support/fake_scheduler.hpp"
#include "support/manual_clock.hpp"
#include "support/run_io.hpp"
#include "support/specs.hpp"
#include "support/temp_dir.hpp"
#include "util/fs.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

using namespace softpack;
using namespace std::chrono_literals;
using flow::BuildState;
using flow::FlowEngine;
using scheduler::JobId;
using scheduler::JobState;
using testing::FakePublisher;
using testing::FakeScheduler;
using testing::TempDir;

namespace {

namespace asio = boost::asio;

using testing::ManualClock;

// Runs the io_context until `done()` holds or `limit` has passed; returns whether it held.
template <typename Pred>
bool run_until(asio::io_context& io, Pred done, std::chrono::milliseconds limit = 2000ms) {
  return testing::run_io_until(io, done, limit, 5ms);
}

void run_for(asio::io_context& io, std::chrono::milliseconds d) {
  run_until(
      io, [] { return false; }, d);
}

std::vector<std::string> values(const std::vector<JobId>& ids) {
  std::vector<std::string> out;
  for (const auto& id : ids) {
    out.push_back(id.value);
  }
  return out;
}

// One engine over a FakeScheduler and a FakePublisher, with plans written under a temporary
// data directory. Members are destroyed in reverse order: the engine first.
struct Harness {
  TempDir dir;
  config::Config config;
  asio::io_context io;
  FakeScheduler sched;
  FakePublisher publisher;
  ManualClock clock;
  std::unique_ptr<FlowEngine> engine;

  // `publishers`: the destinations, in order; none = `publisher` alone.
  explicit Harness(flow::EngineOptions options = fast_options(),
                   std::vector<artifacts::Publisher*> publishers = {}) {
    config = config::default_config();
    config.data_dir = dir / "data";
    config.templates_dir = std::string(SOFTPACK_SOURCE_DIR) + "/templates";
    config.jobs.builder_command = "softpack-builder";
    if (publishers.empty()) {
      publishers.push_back(&publisher);
    }
    engine = std::make_unique<FlowEngine>(io, sched, publishers, options, clock);
  }

  static flow::EngineOptions fast_options() {
    flow::EngineOptions o;
    o.poll_interval = 10ms;
    o.min_poll_interval = 2ms;
    o.lost_grace = 60s;
    o.publish_retry_initial = 5ms;
    o.publish_retry_max = 20ms;
    return o;
  }

  // Runs the build's three fake jobs to `completed` (or the first to `failed`).
  void end_jobs(bool succeed = true) {
    for (const char* job : {"fake-1", "fake-2", "fake-3"}) {
      h_set(job, succeed || std::string(job) != "fake-1");
    }
  }
  void h_set(const char* job, bool ok) {
    sched.set_state(JobId{job}, ok ? JobState::completed : JobState::failed, ok ? 0 : 1);
  }

  flow::BuildPlan plan(const std::string& env = "env", bool write = true) {
    auto p = flow::make_plan(config, testing::valid_spec("users/alice", env), "build-" + env,
                             render::TemplateSet(config.templates_dir));
    REQUIRE(p.has_value());
    if (write) {
      REQUIRE(flow::write_plan(*p).has_value());
    }
    return *p;
  }

  const flow::BuildStatus& status(const std::string& id) {
    const auto* b = engine->find(id);
    REQUIRE(b != nullptr);
    return *b;
  }

  // Starts a build and runs until its three jobs are submitted and it is `running`.
  std::string start_running(const flow::BuildPlan& p) {
    const auto before = sched.submit_count();
    const std::string id = engine->start(p);
    REQUIRE(run_until(io, [&] {
      return sched.submit_count() == before + 3 && status(id).state == BuildState::running;
    }));
    return id;
  }

  bool run_until_final(const std::string& id, std::chrono::milliseconds limit = 2000ms) {
    return run_until(
        io, [&] { return flow::is_final(status(id).state); }, limit);
  }

  void run_polls(std::size_t n) {
    const auto target = sched.poll_count() + n;
    REQUIRE(run_until(io, [&] { return sched.poll_count() >= target; }));
  }
};

} // namespace

TEST_CASE("engine: stages are submitted in order, each after the job before it", "[engine]") {
  Harness h;
  const auto plan = h.plan();
  const std::string id = h.start_running(plan);
  CHECK(id == plan.build_id);
  const auto specs = h.sched.submitted();
  REQUIRE(specs.size() == 3);
  CHECK(specs[0].name == "sp.alice.env-1.concretize");
  CHECK(specs[1].name == "sp.alice.env-1.build");
  CHECK(specs[2].name == "sp.alice.env-1.module");
  CHECK(specs[0].after_ok.empty());
  CHECK(values(specs[1].after_ok) == std::vector<std::string>{"fake-1"});
  CHECK(values(specs[2].after_ok) == std::vector<std::string>{"fake-2"});
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(specs[i].comment == plan.build_id);
    CHECK(specs[i].script == plan.script_path(plan.stages[i].name));
    CHECK(specs[i].stdout_path == plan.log_path(plan.stages[i].name));
  }
  const auto& st = h.status(id);
  REQUIRE(st.stages.size() == 3);
  CHECK(st.stages[2].job_id == JobId{"fake-3"});
  CHECK(h.sched.cancel_count() == 0);
  CHECK(h.publisher.call_count() == 0);
}

TEST_CASE("engine: a build whose stages all complete is published", "[engine]") {
  Harness h;
  const auto plan = h.plan();
  const std::string id = h.start_running(plan);
  h.sched.set_state(JobId{"fake-1"}, JobState::running);
  REQUIRE(run_until(h.io, [&] { return h.status(id).stages[0].state == JobState::running; }));
  CHECK(h.status(id).started.has_value());
  for (const char* job : {"fake-1", "fake-2", "fake-3"}) {
    h.sched.set_state(JobId{job}, JobState::completed, 0);
  }
  REQUIRE(h.run_until_final(id));
  const auto& st = h.status(id);
  CHECK(st.state == BuildState::published);
  CHECK(st.succeeded);
  CHECK(st.error.empty());
  CHECK(st.published_reference == "fake-ref-" + plan.build_id);
  CHECK(st.done.has_value());
  for (const auto& stage : st.stages) {
    CHECK(stage.state == JobState::completed);
  }
  const auto calls = h.publisher.calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].request.success);
  CHECK(calls[0].request.build_id == plan.build_id);
  CHECK(calls[0].request.out_dir == plan.out_dir());
  CHECK(calls[0].request.spec == plan.spec);
  CHECK(calls[0].builder_out.has_value());
  CHECK(std::filesystem::exists(plan.out_dir() / ".built_by_softpack"));
  CHECK(h.sched.cancel_count() == 0);
  CHECK(h.engine->active() == 0);
}

TEST_CASE("engine: a failing stage cancels the rest of its build in one call", "[engine]") {
  Harness h;
  const auto plan = h.plan();
  const std::string id = h.start_running(plan);
  std::string failed_stage;
  std::vector<std::string> cancelled_jobs;
  SECTION("the middle stage fails") {
    REQUIRE(
        write_file_atomic(plan.log_path("build"), "compiling...\nfoo.c:12: error: expected ';'\n")
            .has_value());
    h.sched.set_state(JobId{"fake-1"}, JobState::completed, 0);
    h.sched.set_state(JobId{"fake-2"}, JobState::failed, 2);
    failed_stage = "build";
    cancelled_jobs = {"fake-3"};
  }
  SECTION("the first stage fails") {
    REQUIRE(
        write_file_atomic(plan.log_path("concretize"), "==> Error: Package 'xxhsh' not found.\n")
            .has_value());
    h.sched.set_state(JobId{"fake-1"}, JobState::failed, 2);
    failed_stage = "concretize";
    cancelled_jobs = {"fake-2", "fake-3"};
  }
  REQUIRE(h.run_until_final(id));
  const auto cancels = h.sched.cancel_calls();
  REQUIRE(cancels.size() == 1);
  CHECK(values(cancels[0]) == cancelled_jobs);

  const auto& st = h.status(id);
  CHECK(st.state == BuildState::failed);
  CHECK_FALSE(st.succeeded);
  CHECK_THAT(st.error, Catch::Contains("stage " + failed_stage + " failed"));
  CHECK_THAT(st.error, Catch::Contains("exit code 2"));

  const auto calls = h.publisher.calls();
  REQUIRE(calls.size() == 1);
  CHECK_FALSE(calls[0].request.success);
  CHECK_FALSE(std::filesystem::exists(plan.out_dir() / ".built_by_softpack"));
  auto builder_out = read_file(plan.out_dir() / "builder.out");
  REQUIRE(builder_out.has_value());
  CHECK(calls[0].builder_out == *builder_out); // written before publishing
  const std::string log = read_file(plan.log_path(failed_stage)).value();
  CHECK_THAT(*builder_out, Catch::Contains(log));
  CHECK_THAT(*builder_out, Catch::Contains("==> stage " + failed_stage));
  CHECK_THAT(*builder_out, Catch::Contains(": failed, exit code 2"));
  CHECK_THAT(*builder_out, Catch::Contains("error: stage " + failed_stage + " failed"));
}

TEST_CASE("engine: a stage ended by a node failure reports Slurm's reason, not exit code 0",
          "[engine]") {
  // Found by tests/faults/node_down.sh: squeue reports NODE_FAIL with exit code 0 before (or
  // without) the job script's result file.
  Harness h;
  const auto plan = h.plan();
  const std::string id = h.start_running(plan);
  h.sched.set_state(JobId{"fake-1"}, JobState::completed, 0);
  h.sched.set_state(JobId{"fake-2"}, JobState::node_fail, 0, "NodeDown");
  REQUIRE(h.run_until_final(id));
  const auto& st = h.status(id);
  CHECK(st.state == BuildState::failed);
  CHECK(st.error == "stage build node_fail: NodeDown");
  auto builder_out = read_file(plan.out_dir() / "builder.out");
  REQUIRE(builder_out.has_value());
  CHECK_THAT(*builder_out, Catch::Contains("==> stage build (job fake-2): node_fail, NodeDown\n"));
  CHECK_THAT(*builder_out,
             Catch::Contains("==> stage concretize (job fake-1): completed, exit code 0"));
}

TEST_CASE("engine: a new reason for a stage in the same state reaches the observer", "[engine]") {
  // Found by tests/faults/node_down.sh: a requeued job went pending with no reason, then its
  // reason became BeginTime, which GET /builds/ID never showed (only state changes were passed on).
  struct Reasons : flow::BuildObserver {
    std::vector<std::string> seen;
    void on_stage_changed(const flow::BuildStatus&, const flow::StageStatus& st) override {
      if (st.name == "build") {
        seen.push_back(std::string(scheduler::to_string(st.state)) + ":" + st.reason);
      }
    }
    void on_build_changed(const flow::BuildStatus&) override {}
  } observer;
  Harness h;
  h.engine->set_observer(&observer);
  const auto plan = h.plan();
  h.start_running(plan);
  h.sched.set_state(JobId{"fake-2"}, JobState::pending, std::nullopt, "");
  h.run_polls(2);
  h.sched.set_state(JobId{"fake-2"}, JobState::pending, std::nullopt, "BeginTime");
  REQUIRE(run_until(
      h.io, [&] { return !observer.seen.empty() && observer.seen.back() == "pending:BeginTime"; }));
  h.engine->set_observer(nullptr);
}

TEST_CASE("engine: a running stage reported cancelled for a dependency was lost, not cancelled",
          "[engine]") {
  // Found by tests/faults/slurm_state_lost.sh: slurmctld restarted with its state cleared kills
  // the running job and accounting has it CANCELLED with the Dependency reason it once waited
  // for; the build was reported `cancelled` although nobody cancelled it.
  Harness h;
  const auto plan = h.plan();
  const std::string id = h.start_running(plan);
  h.sched.set_state(JobId{"fake-1"}, JobState::completed, 0);
  h.sched.set_state(JobId{"fake-2"}, JobState::running);
  REQUIRE(run_until(h.io, [&] { return h.status(id).stages[1].state == JobState::running; }));
  h.sched.set_state(JobId{"fake-2"}, JobState::cancelled, std::nullopt, "Dependency");
  h.sched.set_state(JobId{"fake-3"}, JobState::cancelled, std::nullopt, "Dependency");
  REQUIRE(h.run_until_final(id));
  const auto& st = h.status(id);
  CHECK(st.state == BuildState::failed);
  CHECK(st.stages[1].state == JobState::lost);
  CHECK_THAT(st.error, Catch::StartsWith("stage build lost: the scheduler ended the running job "
                                         "without anyone cancelling it"));
  CHECK(st.stages[2].state == JobState::cancelled); // never ran: a dependency cancel
}

TEST_CASE("engine: one scheduler poll per interval covers every open job of every build",
          "[engine]") {
  flow::EngineOptions o;
  o.poll_interval = 20ms;
  o.min_poll_interval = 20ms;
  Harness h(o);
  std::vector<std::string> builds;
  for (int i = 0; i < 20; ++i) {
    builds.push_back(h.engine->start(h.plan("env" + std::to_string(i), /*write=*/false)));
  }
  REQUIRE(run_until(h.io, [&] {
    return h.sched.submit_count() == 60 &&
           std::all_of(builds.begin(), builds.end(), [&](const std::string& id) {
             return h.status(id).state == BuildState::running;
           });
  }));
  const auto all_ids = values(h.sched.submitted_ids());
  const std::set<std::string> all(all_ids.begin(), all_ids.end());

  // Every poll made from now on has been decided with all builds running.
  const std::size_t first = h.engine->poll_calls();
  const auto t0 = std::chrono::steady_clock::now();
  run_for(h.io, 300ms);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  const std::size_t made = h.engine->poll_calls() - first;
  const auto intervals = elapsed / o.poll_interval;
  CHECK(made >= 3);                                       // it does poll ...
  CHECK(made <= static_cast<std::size_t>(intervals) + 2); // ... once per interval, not per build
  const auto polls = h.sched.poll_calls();
  REQUIRE(polls.size() >= first + made - 1); // the last may still be in flight
  for (std::size_t i = first; i < polls.size(); ++i) {
    const auto ids = values(polls[i]);
    CHECK(ids.size() == 60);
    CHECK(std::set<std::string>(ids.begin(), ids.end()) == all);
  }

  // A finished build drops out of the one poll.
  for (const auto& stage : h.status(builds[0]).stages) {
    REQUIRE(stage.job_id.has_value());
    h.sched.set_state(*stage.job_id, JobState::completed, 0);
  }
  REQUIRE(h.run_until_final(builds[0]));
  h.run_polls(2);
  CHECK(h.sched.poll_calls().back().size() == 57);
  CHECK(h.publisher.call_count() == 1);
}

TEST_CASE("engine: a poll that fails does not fail builds", "[engine]") {
  Harness h;
  const auto plan = h.plan();
  h.sched.fail_next_polls(4);
  const std::string id = h.start_running(plan);
  h.run_polls(4);
  CHECK(h.status(id).state == BuildState::running);
  CHECK(h.status(id).error.empty());
  for (const char* job : {"fake-1", "fake-2", "fake-3"}) {
    h.sched.set_state(JobId{job}, JobState::completed, 0);
  }
  REQUIRE(h.run_until_final(id));
  CHECK(h.status(id).state == BuildState::published);
  CHECK(h.sched.cancel_count() == 0);
}

TEST_CASE("engine: a job the scheduler forgot", "[engine]") {
  Harness h;
  const auto plan = h.plan();
  const std::string id = h.start_running(plan);
  h.sched.set_state(JobId{"fake-1"}, JobState::running);
  REQUIRE(run_until(h.io, [&] { return h.status(id).stages[0].state == JobState::running; }));
  h.sched.forget(JobId{"fake-1"});

  SECTION("without a result file it becomes lost only after the grace period") {
    h.run_polls(3);
    CHECK(h.status(id).stages[0].state == JobState::running);
    CHECK(h.status(id).stages[0].missing_since == h.clock.now());
    h.clock.advance(59s);
    h.run_polls(3);
    CHECK(h.status(id).stages[0].state == JobState::running);
    CHECK(h.status(id).state == BuildState::running);
    h.clock.advance(1s);
    REQUIRE(h.run_until_final(id));
    const auto& st = h.status(id);
    CHECK(st.stages[0].state == JobState::lost);
    CHECK_THAT(st.stages[0].reason, Catch::Contains("no result file"));
    CHECK(st.state == BuildState::failed);
    CHECK_THAT(st.error, Catch::Contains("lost"));
    const auto cancels = h.sched.cancel_calls();
    REQUIRE(cancels.size() == 1);
    CHECK(values(cancels[0]) == std::vector<std::string>{"fake-2", "fake-3"});
  }
  SECTION("with a result file saying exit 0 it is completed") {
    REQUIRE(write_file_atomic(plan.result_path("concretize"),
                              "exit=0\nstart=1795592695\nend=1795592700\nsignal=\nhost=n1\n")
                .has_value());
    REQUIRE(run_until(h.io, [&] { return h.status(id).stages[0].state == JobState::completed; }));
    CHECK(h.status(id).stages[0].exit_code == 0);
    CHECK(to_unix_seconds(*h.status(id).stages[0].ended) == 1795592700);
    h.sched.set_state(JobId{"fake-2"}, JobState::completed, 0);
    h.sched.set_state(JobId{"fake-3"}, JobState::completed, 0);
    REQUIRE(h.run_until_final(id));
    CHECK(h.status(id).state == BuildState::published);
  }
  SECTION("with a result file saying exit 1 it failed") {
    REQUIRE(write_file_atomic(plan.result_path("concretize"),
                              "exit=1\nstart=1795592695\nend=1795592700\nsignal=\nhost=n1\n")
                .has_value());
    REQUIRE(h.run_until_final(id));
    CHECK(h.status(id).stages[0].state == JobState::failed);
    CHECK(h.status(id).state == BuildState::failed);
  }
}

TEST_CASE("engine: a destination that fails is retried with backoff until it succeeds",
          "[engine][publish]") {
  Harness h;
  h.publisher.fail_with("git push: could not connect to the remote");
  const auto plan = h.plan();
  const std::string id = h.start_running(plan);
  h.end_jobs();
  REQUIRE(run_until(h.io, [&] { return h.publisher.call_count() >= 3; }));
  {
    const auto& st = h.status(id);
    CHECK(st.state == BuildState::publishing);
    REQUIRE(st.destinations.size() == 1);
    const auto& d = st.destinations[0];
    CHECK(d.name == "fake");
    CHECK(d.state == flow::DestinationState::pending);
    CHECK(d.attempts >= 2);
    CHECK_THAT(d.error, Catch::Contains("could not connect"));
    CHECK(d.first_failure.has_value());
  }
  h.publisher.recover();
  REQUIRE(h.run_until_final(id));
  const auto& st = h.status(id);
  CHECK(st.state == BuildState::published);
  CHECK(st.error.empty());
  CHECK(st.destinations[0].state == flow::DestinationState::published);
  CHECK(st.destinations[0].reference == "fake-ref-" + plan.build_id);
  CHECK(st.published_reference == "fake-ref-" + plan.build_id);
  // Every attempt published the same builder.out (written once), so a destination that did
  // receive an attempt it did not answer sees no change the next time.
  const auto calls = h.publisher.calls();
  REQUIRE(calls.size() >= 4);
  for (const auto& c : calls) {
    REQUIRE(c.builder_out.has_value());
    CHECK(*c.builder_out == *calls.front().builder_out);
  }
}

TEST_CASE("engine: publish backoff doubles up to the maximum", "[engine][publish]") {
  flow::EngineOptions o;
  o.publish_retry_initial = 30s;
  o.publish_retry_max = 10min;
  CHECK(flow::publish_backoff(o, 1) == 30s);
  CHECK(flow::publish_backoff(o, 2) == 60s);
  CHECK(flow::publish_backoff(o, 5) == 480s);
  CHECK(flow::publish_backoff(o, 6) == 10min);
  CHECK(flow::publish_backoff(o, 1000) == 10min);
}

TEST_CASE("engine: destinations are published in order, a failing one holds back the rest",
          "[engine][publish]") {
  FakePublisher image("registry", false), record("git");
  Harness h(Harness::fast_options(), {&image, &record});
  image.fail_with("registry: 503 Service Unavailable");
  const auto plan = h.plan();
  const std::string id = h.start_running(plan);
  h.end_jobs();
  REQUIRE(run_until(h.io, [&] { return image.call_count() >= 2; }));
  CHECK(record.call_count() == 0);
  image.recover();
  REQUIRE(h.run_until_final(id));
  CHECK(h.status(id).state == BuildState::published);
  CHECK(record.call_count() == 1);
  // The git commit is the build's reference.
  CHECK(h.status(id).published_reference == "git-ref-" + plan.build_id);
  const auto& ds = h.status(id).destinations;
  REQUIRE(ds.size() == 2);
  CHECK(ds[0].name == "registry");
  CHECK(ds[1].name == "git");
  CHECK(ds[1].attempts == 1);
}

TEST_CASE("engine: a failed build is published only where failures go", "[engine][publish]") {
  FakePublisher image("registry", false), record("git");
  Harness h(Harness::fast_options(), {&image, &record});
  const auto plan = h.plan();
  const std::string id = h.start_running(plan);
  h.end_jobs(false);
  REQUIRE(h.run_until_final(id));
  CHECK(h.status(id).state == BuildState::failed);
  CHECK(image.call_count() == 0);
  REQUIRE(record.call_count() == 1);
  CHECK_FALSE(record.calls()[0].request.success);
  REQUIRE(h.status(id).destinations.size() == 1);
  CHECK(h.status(id).destinations[0].name == "git");
}

TEST_CASE("engine: a destination that refuses the build is given up at once", "[engine][publish]") {
  Harness h;
  h.publisher.fail_with("users/alice/env/1 is already installed by build other",
                        ErrorKind::invalid_input);
  const auto plan = h.plan();
  const std::string id = h.start_running(plan);
  h.end_jobs();
  REQUIRE(h.run_until_final(id));
  const auto& st = h.status(id);
  CHECK(st.state == BuildState::failed);
  CHECK_THAT(st.error, Catch::Contains("publishing to fake failed"));
  CHECK_THAT(st.error, Catch::Contains("already installed"));
  CHECK(st.destinations[0].state == flow::DestinationState::failed);
  CHECK(h.publisher.call_count() == 1);
}

TEST_CASE("engine: a destination still failing after give_up_after is given up",
          "[engine][publish]") {
  auto o = Harness::fast_options();
  o.publish_give_up_after = 1h;
  Harness h(o);
  h.publisher.fail_with("core: connection refused");
  const auto plan = h.plan();
  const std::string id = h.start_running(plan);
  h.end_jobs();
  REQUIRE(run_until(h.io, [&] { return h.publisher.call_count() >= 2; }));
  CHECK(h.status(id).state == BuildState::publishing);
  h.clock.advance(2h);
  REQUIRE(h.run_until_final(id));
  CHECK(h.status(id).state == BuildState::failed);
  CHECK_THAT(h.status(id).error, Catch::Contains("connection refused"));
  CHECK(h.status(id).destinations[0].state == flow::DestinationState::failed);
}

TEST_CASE("engine: a build resumed while publishing publishes only what is not done",
          "[engine][publish]") {
  FakePublisher image("registry", false), record("git");
  Harness h(Harness::fast_options(), {&image, &record});
  const auto plan = h.plan();
  flow::BuildStatus st;
  st.id = plan.build_id;
  st.spec = plan.spec;
  st.build_dir = plan.build_dir;
  st.state = BuildState::publishing;
  st.succeeded = true;
  for (std::size_t i = 0; i < plan.stages.size(); ++i) {
    flow::StageStatus s;
    s.name = plan.stages[i].name;
    s.job_name = plan.stages[i].job_name;
    s.job_id = JobId{"old-" + std::to_string(i)};
    s.state = JobState::completed;
    st.stages.push_back(s);
  }
  flow::DestinationStatus done, waiting;
  done.name = "registry";
  done.state = flow::DestinationState::published;
  done.attempts = 1;
  done.reference = "sha256:abc";
  waiting.name = "git";
  waiting.attempts = 3;
  waiting.error = "git push: could not connect";
  waiting.first_failure = h.clock.now() - 1h;
  waiting.next_attempt = h.clock.now() - 1s; // due
  st.destinations = {done, waiting};
  h.engine->resume(plan, st);
  REQUIRE(h.run_until_final(plan.build_id));
  CHECK(h.status(plan.build_id).state == BuildState::published);
  CHECK(image.call_count() == 0);
  CHECK(record.call_count() == 1);
  const auto& ds = h.status(plan.build_id).destinations;
  CHECK(ds[0].reference == "sha256:abc");
  CHECK(ds[1].state == flow::DestinationState::published);
  CHECK(ds[1].attempts == 4);
}

TEST_CASE("engine: resumed on a scheduler whose jobs ended with the service, the unfinished "
          "stages run again",
          "[engine]") {
  Harness h;
  h.sched.set_jobs_survive_service(false);
  const auto plan = h.plan();
  flow::BuildStatus st;
  st.id = plan.build_id;
  st.spec = plan.spec;
  st.build_dir = plan.build_dir;
  st.state = BuildState::running;
  const JobState before[] = {JobState::completed, JobState::running, JobState::pending};
  for (std::size_t i = 0; i < plan.stages.size(); ++i) {
    flow::StageStatus s;
    s.name = plan.stages[i].name;
    s.job_name = plan.stages[i].job_name;
    s.job_id = JobId{"old-" + std::to_string(i)};
    s.state = before[i];
    st.stages.push_back(s);
  }
  h.engine->resume(plan, st);
  REQUIRE(run_until(h.io, [&] { return h.sched.submit_count() == 2; }));
  const auto specs = h.sched.submitted();
  // The completed stage is kept and, being met, not named as a dependency.
  CHECK(specs[0].name == plan.stages[1].job_name);
  CHECK(specs[0].after_ok.empty());
  CHECK(specs[1].name == plan.stages[2].job_name);
  CHECK(values(specs[1].after_ok) == std::vector<std::string>{"fake-1"});
  CHECK(h.status(plan.build_id).stages[0].job_id->value == "old-0");
  CHECK(h.status(plan.build_id).stages[1].job_id->value == "fake-1");
  const auto note = read_file(plan.restarts_log(), 4096);
  REQUIRE(note);
  CHECK_THAT(*note,
             Catch::Contains("these stages run again: build (job old-1), module (job old-2)"));
  h.sched.set_state(JobId{"fake-1"}, JobState::completed, 0);
  h.sched.set_state(JobId{"fake-2"}, JobState::completed, 0);
  REQUIRE(h.run_until_final(plan.build_id));
  CHECK(h.status(plan.build_id).state == BuildState::published);

  SECTION("a scheduler whose jobs survive is followed, never submitted to again") {
    Harness k;
    const auto p2 = k.plan();
    auto st2 = st;
    st2.stages[1].state = JobState::running;
    st2.stages[2].state = JobState::pending;
    k.engine->resume(p2, st2);
    run_for(k.io, 50ms);
    CHECK(k.sched.submit_count() == 0);
  }
}

TEST_CASE("engine: a submission that fails fails the build", "[engine]") {
  Harness h;
  h.sched.fail_next_submits(1);
  const auto plan = h.plan();
  const std::string id = h.engine->start(plan);
  REQUIRE(h.run_until_final(id));
  const auto& st = h.status(id);
  CHECK(st.state == BuildState::failed);
  CHECK_THAT(st.error, Catch::Contains("submitting stage concretize"));
  CHECK(st.stages[0].state == JobState::failed);
  CHECK(st.stages[1].state == JobState::cancelled);
  CHECK(st.stages[2].state == JobState::cancelled);
  CHECK(h.sched.submit_count() == 1);
  REQUIRE(h.publisher.call_count() == 1);
  CHECK_FALSE(h.publisher.calls()[0].request.success);
}

TEST_CASE("engine: a scheduler that cannot be reached delays a submission, it does not fail "
          "the build",
          "[engine]") {
  // faults.slurmctld_down: the backend's own retries cover about a minute; a longer outage
  // failed every build being submitted.
  Harness h;
  h.sched.fail_next_submits(3, ErrorKind::transient);
  const auto plan = h.plan();
  const std::string id = h.engine->start(plan);
  REQUIRE(run_until(h.io, [&] {
    return h.status(id).stages[0].reason.find("submission failed, retrying") != std::string::npos;
  }));
  CHECK(h.status(id).state == BuildState::submitting);
  CHECK(h.status(id).stages[0].submitting);
  REQUIRE(run_until(h.io, [&] {
    return h.sched.submitted().size() == 3 && h.status(id).state == BuildState::running;
  }));
  CHECK(h.sched.submit_count() == 6);
  CHECK(h.sched.find_count() == 3); // each retry first looks for a job the failed call made
  CHECK(h.status(id).stages[0].reason.empty());
  h.end_jobs();
  REQUIRE(h.run_until_final(id));
  CHECK(h.status(id).state == BuildState::published);
}

TEST_CASE("engine: no job is submitted before its `submitting` record is saved", "[engine]") {
  // faults.disk_full: with the store full, stages were submitted without their write-ahead
  // record, so a restart could have submitted them again.
  struct Journal : flow::BuildJournal {
    std::atomic<bool> full{true};
    Expected<void> save(const flow::BuildStatus&) override {
      if (full) {
        return make_error(ErrorKind::io, "database or disk is full", "store");
      }
      return {};
    }
  } journal;
  Harness h;
  h.engine->set_journal(&journal);
  const auto plan = h.plan();
  const std::string id = h.engine->start(plan);
  run_for(h.io, 60ms);
  CHECK(h.sched.submit_count() == 0);
  CHECK(h.status(id).state == BuildState::submitting);
  CHECK_THAT(h.status(id).stages[0].reason, Catch::Contains("waiting to record the submission: ") &&
                                                Catch::Contains("disk is full"));
  journal.full = false;
  REQUIRE(run_until(h.io, [&] {
    return h.sched.submit_count() == 3 && h.status(id).state == BuildState::running;
  }));
  h.end_jobs();
  REQUIRE(h.run_until_final(id));
  CHECK(h.status(id).state == BuildState::published);
  CHECK(h.sched.submit_count() == 3);
  h.engine->set_journal(nullptr);
}

TEST_CASE("engine: cancelling a build", "[engine]") {
  Harness h;
  const auto plan = h.plan();
  CHECK_FALSE(h.engine->cancel("no-such-build"));

  SECTION("while its jobs run: one cancel call for all of them") {
    const std::string id = h.start_running(plan);
    h.sched.set_state(JobId{"fake-1"}, JobState::running);
    REQUIRE(h.engine->cancel(id));
    REQUIRE(h.run_until_final(id));
    const auto cancels = h.sched.cancel_calls();
    REQUIRE(cancels.size() == 1);
    CHECK(values(cancels[0]) == std::vector<std::string>{"fake-1", "fake-2", "fake-3"});
    CHECK(h.status(id).state == BuildState::cancelled);
    CHECK(h.status(id).cancel_requested);
  }
  SECTION("while it is being submitted: the rest is never submitted") {
    const std::string id = h.engine->start(plan);
    REQUIRE(h.status(id).state == BuildState::submitting);
    REQUIRE(h.engine->cancel(id));
    REQUIRE(h.run_until_final(id));
    CHECK(h.sched.submit_count() == 1);
    const auto cancels = h.sched.cancel_calls();
    REQUIRE(cancels.size() == 1);
    CHECK(values(cancels[0]) == std::vector<std::string>{"fake-1"});
    CHECK(h.status(id).state == BuildState::cancelled);
    CHECK_THAT(h.status(id).stages[1].reason, Catch::Contains("not submitted"));
  }
  const auto calls = h.publisher.calls();
  REQUIRE(calls.size() == 1);
  CHECK_FALSE(calls[0].request.success);
  CHECK(calls[0].builder_out.has_value());
  CHECK_FALSE(h.engine->cancel(plan.build_id)); // already final
}

TEST_CASE("engine: a cancel call that fails is retried", "[engine]") {
  Harness h;
  const auto plan = h.plan();
  const std::string id = h.start_running(plan);
  h.sched.fail_next_cancels(1);
  SECTION("after a stage failed") {
    h.sched.set_state(JobId{"fake-1"}, JobState::failed, 1);
  }
  SECTION("after a cancel request") {
    REQUIRE(h.engine->cancel(id));
  }
  // fake-2 and fake-3 wait for fake-1 forever (Slurm: DependencyNeverSatisfied) until cancelled.
  REQUIRE(h.run_until_final(id));
  const auto cancels = h.sched.cancel_calls();
  REQUIRE(cancels.size() == 2);
  CHECK(cancels[0] == cancels[1]);
  CHECK(h.sched.state_of(JobId{"fake-3"}) == JobState::cancelled);
}

TEST_CASE("engine: a scheduler's change notice brings the next poll forward", "[engine]") {
  flow::EngineOptions o;
  o.poll_interval = 60s;
  o.min_poll_interval = 1ms;
  Harness h(o);
  REQUIRE(h.sched.has_listener());
  const auto plan = h.plan();
  const std::string id = h.start_running(plan);
  // Unchanged polls back off: 1, 2, 4 ... 256 ms; the next one is 512 ms away.
  h.run_polls(9);
  for (const char* job : {"fake-1", "fake-2", "fake-3"}) {
    h.sched.set_state(JobId{job}, JobState::completed, 0);
  }
  const auto before = h.sched.poll_count();
  h.sched.notify();
  REQUIRE(run_until(
      h.io, [&] { return h.sched.poll_count() > before; }, 200ms));
  REQUIRE(h.run_until_final(id));
  CHECK(h.status(id).state == BuildState::published);
  h.engine.reset();
  CHECK_FALSE(h.sched.has_listener()); // the engine removes itself
}

TEST_CASE("engine: an exception on the worker pool ends no build but its own", "[engine]") {
  Harness h;
  SECTION("a scheduler that throws submitting one build's stage fails that build only") {
    h.sched.throw_on_submit_of("bad");
    const auto bad = h.engine->start(h.plan("bad"));
    const auto good = h.start_running(h.plan("good"));
    REQUIRE(h.run_until_final(bad));
    CHECK(h.status(bad).state == BuildState::failed);
    CHECK_THAT(h.status(bad).error,
               Catch::Contains("unexpected exception") && Catch::Contains("submit threw"));
    CHECK(h.status(good).state == BuildState::running);
    for (const auto& job : h.sched.submitted_ids()) {
      h.sched.set_state(job, JobState::completed, 0);
    }
    REQUIRE(h.run_until_final(good));
    CHECK(h.status(good).state == BuildState::published);
  }
  SECTION("a poll that throws is a failed poll, tried again") {
    const auto id = h.start_running(h.plan());
    h.sched.throw_next_polls(2);
    h.end_jobs();
    REQUIRE(h.run_until_final(id));
    CHECK(h.status(id).state == BuildState::published);
    CHECK(h.status(id).error.empty());
  }
  SECTION("a cancel that throws is a failed cancel, tried again") {
    const auto id = h.start_running(h.plan());
    h.sched.throw_next_cancels(1);
    REQUIRE(h.engine->cancel(id));
    REQUIRE(h.run_until_final(id));
    CHECK(h.status(id).state == BuildState::cancelled);
    CHECK(h.sched.cancel_count() >= 2);
  }
  SECTION("a publisher that throws for one build: its destination fails, the others publish") {
    h.publisher.throw_for_environment("bad");
    const auto bad = h.start_running(h.plan("bad"));
    const auto good = h.start_running(h.plan("good"));
    for (const auto& job : h.sched.submitted_ids()) {
      h.sched.set_state(job, JobState::completed, 0);
    }
    REQUIRE(h.run_until_final(good));
    CHECK(h.status(good).state == BuildState::published);
    // The bad build's destination retries with backoff, each attempt an error it records.
    REQUIRE(run_until(h.io, [&] {
      const auto& ds = h.status(bad).destinations;
      return !ds.empty() && ds.front().attempts >= 2;
    }));
    const auto& d = h.status(bad).destinations.front();
    CHECK(d.state == flow::DestinationState::pending);
    CHECK_THAT(d.error, Catch::Contains("unexpected exception") && Catch::Contains("threw"));
    CHECK(h.status(bad).state == BuildState::publishing);
    h.publisher.throw_for_environment("");
    REQUIRE(h.run_until_final(bad));
    CHECK(h.status(bad).state == BuildState::published);
  }
}
