#include "flow/plan.hpp"
#include "service/service.hpp"
#include "store/sqlite_store.hpp"
#include "support/fake_command_runner.hpp"
#include "support/fake_publisher.hpp"
#include "support/fake_scheduler.hpp"
#include "support/manual_clock.hpp"
#include "support/specs.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace softpack;
using namespace std::chrono_literals;
using scheduler::JobId;
using scheduler::JobState;
using service::Service;
using testing::FakeCommandRunner;
using testing::FakePublisher;
using testing::FakeScheduler;
using testing::TempDir;

namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::int64_t k_start = 1795592695; // 2026-11-25T07:44:55Z

// Forwards to a FakeScheduler and logs the order of submit and find_submitted calls
// ("find:<job name>", "submit:<job name>"), which the FakeScheduler only counts.
class OrderLog final : public scheduler::Scheduler {
public:
  explicit OrderLog(FakeScheduler& fake) : m_fake(fake) {}
  std::string_view name() const override { return m_fake.name(); }
  Expected<JobId> submit(const scheduler::JobSpec& spec) override {
    log("submit:" + spec.name);
    return m_fake.submit(spec);
  }
  Expected<std::vector<scheduler::JobInfo>> poll(std::span<const JobId> ids) override {
    return m_fake.poll(ids);
  }
  Expected<void> cancel(std::span<const JobId> ids) override { return m_fake.cancel(ids); }
  Expected<std::optional<JobId>> find_submitted(const scheduler::JobSpec& spec) override {
    log("find:" + spec.name);
    return m_fake.find_submitted(spec);
  }
  void set_change_listener(std::function<void()> listener) override {
    m_fake.set_change_listener(std::move(listener));
  }
  std::vector<std::string> calls() const {
    std::lock_guard lock(m_mutex);
    return m_calls;
  }

private:
  void log(std::string entry) {
    std::lock_guard lock(m_mutex);
    m_calls.push_back(std::move(entry));
  }
  FakeScheduler& m_fake;
  mutable std::mutex m_mutex;
  std::vector<std::string> m_calls;
};

spec::ValidSpec env_spec(const std::string& name, const std::string& version = "1") {
  spec::EnvironmentSpec s;
  s.path = "users/alice";
  s.name = name;
  s.version = version;
  s.description = "test environment";
  s.packages = {{"xxhash", "0.8.1"}};
  return testing::valid_spec(std::move(s));
}

// The service over a real SQLite store in a temporary data directory, a FakeScheduler, a
// FakePublisher and a manual clock. boot() is one run of the process (a new io_context, store
// handle and service, then start()); stop() ends it; the fakes outlive both, like the
// cluster's batch system and the artifacts repository would.
struct Harness {
  TempDir dir;
  config::Config config;
  FakeScheduler fake;
  FakePublisher publisher;
  FakeCommandRunner runner;
  testing::ManualClock clock{k_start};
  scheduler::Scheduler* sched = &fake; // what the service is given
  std::unique_ptr<asio::io_context> io;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<Service> service;

  explicit Harness(int max_in_flight = 10) {
    config = config::default_config();
    config.data_dir = dir / "data";
    config.templates_dir = std::string(SOFTPACK_SOURCE_DIR) + "/templates";
    config.jobs.builder_command = "softpack-builder";
    config.scheduler.poll_interval = 1s;
    config.scheduler.min_poll_interval = 5ms;
    config.scheduler.lost_grace = 60s;
    config.server.max_builds_in_flight = max_in_flight;
    std::filesystem::create_directories(config.data_dir);
  }

  std::filesystem::path db_path() const { return config.data_dir / "softpack-builder.db"; }

  void boot(const store::SqliteOptions& options = {}) {
    io = std::make_unique<asio::io_context>();
    auto s = store::open_sqlite(db_path(), options);
    REQUIRE(s.has_value());
    store = std::move(s).value();
    service = std::make_unique<Service>(
        *io, config, *sched, std::vector<artifacts::Publisher*>{&publisher}, *store, runner, clock);
    auto started = service->start();
    INFO((started ? std::string() : started.error().describe()));
    REQUIRE(started.has_value());
  }

  void stop() {
    service.reset();
    store.reset();
    io.reset();
  }

  // Runs the io_context until `done()` holds or `limit` passes; returns whether it held. The
  // scheduler is nudged (as the local executor would) so polls do not wait for the backed-off
  // interval.
  template <typename Pred> bool run_until(Pred done, std::chrono::milliseconds limit = 3000ms) {
    auto guard = asio::make_work_guard(*io);
    if (io->stopped()) {
      io->restart();
    }
    const auto deadline = std::chrono::steady_clock::now() + limit;
    auto next_nudge = std::chrono::steady_clock::now();
    while (!done()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        return false;
      }
      if (now >= next_nudge) {
        fake.notify();
        next_nudge = now + 20ms;
      }
      io->run_one_for(5ms);
    }
    return true;
  }
  void run_for(std::chrono::milliseconds d) {
    run_until([] { return false; }, d);
  }

  std::string submit(const std::string& env) {
    auto r = service->submit(env_spec(env), {});
    INFO((r ? std::string() : r.error().describe()));
    REQUIRE(r.has_value());
    CHECK_FALSE(r->existing);
    return r->build_id;
  }

  store::BuildRecord stored(const std::string& id) {
    auto r = store->get(id);
    REQUIRE(r.has_value());
    REQUIRE(r->has_value());
    return **r;
  }
  std::string state(const std::string& id) { return stored(id).state; }

  // The jobs submitted for a build (their comment is the build id), in submission order.
  std::vector<std::string> jobs_of(const std::string& id) const {
    std::vector<std::string> out;
    const auto specs = fake.submitted();
    for (std::size_t i = 0; i < specs.size(); ++i) {
      if (specs[i].comment == id) {
        out.push_back("fake-" + std::to_string(i + 1));
      }
    }
    return out;
  }

  bool running_with_jobs(const std::string& id) {
    return jobs_of(id).size() == 3 && state(id) == "running";
  }

  void complete(const std::string& id) {
    for (const auto& job : jobs_of(id)) {
      fake.set_state(JobId{job}, JobState::completed, 0);
    }
  }

  std::size_t publishes_of(const std::string& id) const {
    const auto calls = publisher.calls();
    return static_cast<std::size_t>(std::count_if(
        calls.begin(), calls.end(), [&](const auto& c) { return c.request.build_id == id; }));
  }
};

std::vector<std::string> keys_of(const json::object& o) {
  std::vector<std::string> out;
  for (const auto& kv : o) {
    out.emplace_back(kv.key());
  }
  return out;
}

} // namespace

TEST_CASE("service: a build is stored before submit returns, runs its stages and is published",
          "[service]") {
  Harness h;
  h.boot();
  CHECK(*h.service->environments_status_json() == "[]");

  auto out = h.service->submit(env_spec("env"), {});
  REQUIRE(out.has_value());
  CHECK_FALSE(out->existing);
  const std::string id = out->build_id;
  {
    // Durable before acknowledged: another handle on the database sees it, io not yet run.
    auto other = store::Store::open(h.db_path());
    REQUIRE(other.has_value());
    auto rec = (*other)->get(id);
    REQUIRE(rec.has_value());
    REQUIRE(rec->has_value());
    const auto& r = **rec;
    CHECK((r.state == "queued" || r.state == "submitting"));
    CHECK(r.env_path == "users/alice");
    CHECK(r.env_name == "env");
    CHECK(r.env_version == "1");
    CHECK(r.requested == k_start);
    CHECK_FALSE(r.done.has_value());
    REQUIRE(r.stages.size() == 3);
    CHECK(r.stages[0].name == "concretize");
    CHECK(r.stages[0].job_name == "sp.alice.env-1.concretize");
    CHECK(r.stages[2].name == "module");
  }
  CHECK(h.service->active() == 1);

  REQUIRE(h.run_until([&] { return h.running_with_jobs(id); }));
  const auto specs = h.fake.submitted();
  REQUIRE(specs.size() == 3);
  CHECK(specs[0].name == "sp.alice.env-1.concretize");
  CHECK(specs[1].name == "sp.alice.env-1.build");
  CHECK(specs[2].name == "sp.alice.env-1.module");
  for (const auto& s : specs) {
    CHECK(s.comment == id);
  }
  {
    const auto r = h.stored(id);
    REQUIRE(r.stages.size() == 3);
    CHECK(r.stages[0].job_id == "fake-1");
    CHECK(r.stages[1].job_id == "fake-2");
    CHECK(r.stages[2].job_id == "fake-3");
    CHECK(r.stages[0].scheduler == "fake");
  }

  // go-softpack-builder's status shape, cached until something changes.
  h.run_for(50ms); // the first polls bring the jobs' pending reasons: a change
  const auto s1 = h.service->environments_status_json();
  CHECK(*s1 == R"([{"Name":"users/alice/env-1","Requested":"2026-11-25T07:44:55Z",)"
               R"("BuildStart":null,"BuildDone":null}])");
  CHECK(h.service->environments_status_json() == s1);
  h.run_for(50ms); // polls that change nothing keep the cache
  CHECK(h.service->environments_status_json() == s1);

  h.clock.advance(60s);
  h.fake.set_state(JobId{"fake-1"}, JobState::running);
  REQUIRE(h.run_until([&] { return h.stored(id).stages[0].state == "running"; }));
  const auto s2 = h.service->environments_status_json();
  CHECK(s2 != s1);
  CHECK(*s2 == R"([{"Name":"users/alice/env-1","Requested":"2026-11-25T07:44:55Z",)"
               R"("BuildStart":"2026-11-25T07:45:55Z","BuildDone":null}])");
  CHECK(h.service->environments_status_json() == s2);

  h.clock.advance(60s);
  h.complete(id);
  REQUIRE(h.run_until([&] { return h.state(id) == "published"; }));
  const auto calls = h.publisher.calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].request.build_id == id);
  CHECK(calls[0].request.success);
  CHECK(calls[0].request.spec == env_spec("env"));
  {
    const auto r = h.stored(id);
    CHECK(r.published_ref == "fake-ref-" + id);
    CHECK(r.done == k_start + 120);
    CHECK(r.started == k_start + 60);
    CHECK(r.error.empty());
    for (const auto& st : r.stages) {
      CHECK(st.state == "completed");
    }
  }
  CHECK(h.service->active() == 0);

  const auto s3 = h.service->environments_status_json();
  CHECK(s3 != s2);
  const auto doc = json::parse(*s3);
  REQUIRE(doc.is_array());
  REQUIRE(doc.as_array().size() == 1);
  const auto& o = doc.as_array()[0].as_object();
  CHECK(keys_of(o) == std::vector<std::string>{"Name", "Requested", "BuildStart", "BuildDone"});
  CHECK(o.at("Name").as_string() == "users/alice/env-1");
  CHECK(o.at("Requested").as_string() == "2026-11-25T07:44:55Z");
  CHECK(o.at("BuildStart").as_string() == "2026-11-25T07:45:55Z");
  CHECK(o.at("BuildDone").as_string() == "2026-11-25T07:46:55Z");
  h.run_for(30ms);
  CHECK(h.service->environments_status_json() == s3);
  CHECK(h.publisher.call_count() == 1);
}

TEST_CASE("service: a destination down across a restart is retried and the build ends published",
          "[service][publish]") {
  Harness h;
  h.config.publish.retry_initial = 20ms;
  h.config.publish.retry_max = 20ms;
  h.publisher.fail_with("git push: unable to access the remote: Connection refused");
  h.boot();
  const std::string id = h.submit("env");
  REQUIRE(h.run_until([&] { return h.running_with_jobs(id); }));
  h.complete(id);
  REQUIRE(h.run_until([&] {
    const auto r = h.stored(id);
    return r.destinations.size() == 1 && r.destinations[0].attempts >= 2;
  }));
  {
    const auto r = h.stored(id);
    CHECK(r.state == "publishing");
    CHECK(r.destinations[0].name == "fake");
    CHECK(r.destinations[0].state == "pending");
    CHECK_THAT(r.destinations[0].error, Catch::Contains("Connection refused"));
    // The status API shows it, and the metrics count it.
    const auto doc = json::parse(*h.service->build_json(id)).as_object();
    CHECK(doc.at("state").as_string() == "publishing");
    const auto& d = doc.at("destinations").as_array().at(0).as_object();
    CHECK(d.at("name").as_string() == "fake");
    CHECK(d.at("state").as_string() == "pending");
    CHECK_THAT(std::string(d.at("error").as_string()), Catch::Contains("Connection refused"));
    CHECK_THAT(h.service->metrics_text(),
               Catch::Contains("softpack_publish_retrying{destination=\"fake\"} 1"));
  }
  h.stop();
  const auto calls_before = h.publisher.call_count();
  h.publisher.recover();
  h.boot();
  REQUIRE(h.run_until([&] { return h.state(id) == "published"; }));
  const auto r = h.stored(id);
  CHECK(r.destinations[0].state == "published");
  CHECK(r.destinations[0].reference == "fake-ref-" + id);
  CHECK(r.destinations[0].attempts >= 3);
  CHECK(r.published_ref == "fake-ref-" + id);
  // No job was submitted again: only publishing was left.
  CHECK(h.fake.submitted().size() == 3);
  CHECK(h.publisher.call_count() == calls_before + 1);
  CHECK_THAT(h.service->metrics_text(),
             Catch::Contains("softpack_publish_retrying{destination=\"fake\"} 0"));
}

TEST_CASE("service: the same environment and version is not built twice at once", "[service]") {
  Harness h;
  h.boot();
  const std::string first = h.submit("env");

  // The same request again is that build.
  auto again = h.service->submit(env_spec("env"), {});
  REQUIRE(again.has_value());
  CHECK(again->existing);
  CHECK(again->build_id == first);

  // Another spec of the same environment and version is refused while it builds, as
  // go-softpack-builder does, not silently dropped.
  for (auto edit : {+[](spec::EnvironmentSpec& s) { s.description = "edited"; },
                    +[](spec::EnvironmentSpec& s) {
                      s.packages.push_back({"zlib", ""});
                    }}) {
    auto other = env_spec("env").get();
    edit(other);
    auto refused = h.service->submit(testing::valid_spec(other), {});
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().kind == ErrorKind::conflict);
    CHECK_THAT(refused.error().message,
               Catch::StartsWith("build already running for environment users/alice/env-1") &&
                   Catch::Contains(first));
  }

  REQUIRE(h.run_until([&] { return h.running_with_jobs(first); }));
  auto running = h.service->submit(env_spec("env"), {});
  REQUIRE(running.has_value());
  CHECK(running->existing);
  CHECK(running->build_id == first);

  // Another version is another environment.
  auto v2 = h.service->submit(env_spec("env", "2"), {});
  REQUIRE(v2.has_value());
  CHECK_FALSE(v2->existing);
  CHECK(v2->build_id != first);

  h.complete(first);
  REQUIRE(h.run_until([&] { return h.state(first) == "published"; }));
  auto after = h.service->submit(env_spec("env"), {});
  REQUIRE(after.has_value());
  CHECK_FALSE(after->existing);
  CHECK(after->build_id != first);
  REQUIRE(h.run_until([&] { return h.jobs_of(after->build_id).size() == 3; }));

  auto all = h.store->all();
  REQUIRE(all.has_value());
  CHECK(all->size() == 3);
}

TEST_CASE("service: builds beyond max_builds_in_flight wait as queued and start in order",
          "[service]") {
  Harness h(1);
  h.boot();
  const std::string a = h.submit("env-a");
  const std::string b = h.submit("env-b");
  const std::string c = h.submit("env-c");
  REQUIRE(h.run_until([&] { return h.running_with_jobs(a); }));
  h.run_for(50ms);
  CHECK(h.fake.submit_count() == 3);
  CHECK(h.jobs_of(b).empty());
  CHECK(h.jobs_of(c).empty());
  CHECK(h.state(b) == "queued");
  CHECK(h.state(c) == "queued");
  CHECK(h.service->active() == 3);

  // A queued build is deduplicated like a running one.
  auto dup = h.service->submit(env_spec("env-b"), {});
  REQUIRE(dup.has_value());
  CHECK(dup->existing);
  CHECK(dup->build_id == b);

  h.complete(a);
  REQUIRE(h.run_until([&] { return h.running_with_jobs(b); }));
  CHECK(h.state(a) == "published");
  h.run_for(50ms);
  CHECK(h.jobs_of(c).empty());
  CHECK(h.state(c) == "queued");

  h.complete(b);
  REQUIRE(h.run_until([&] { return h.running_with_jobs(c); }));
  CHECK(h.state(b) == "published");
  h.complete(c);
  REQUIRE(h.run_until([&] { return h.state(c) == "published"; }));

  const auto specs = h.fake.submitted();
  REQUIRE(specs.size() == 9);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    CHECK(specs[i].comment == (i < 3 ? a : i < 6 ? b : c));
  }
  const auto calls = h.publisher.calls();
  REQUIRE(calls.size() == 3);
  CHECK(calls[0].request.build_id == a);
  CHECK(calls[1].request.build_id == b);
  CHECK(calls[2].request.build_id == c);
  CHECK(h.service->active() == 0);
}

TEST_CASE("service: a restart resumes the running build and starts the queued ones in order",
          "[service]") {
  Harness h(1);
  h.boot();
  const std::string a = h.submit("env-a");
  const std::string b = h.submit("env-b");
  const std::string c = h.submit("env-c");
  REQUIRE(h.run_until([&] { return h.running_with_jobs(a); }));
  h.fake.set_state(JobId{"fake-1"}, JobState::running);
  REQUIRE(h.run_until([&] { return h.stored(a).stages[0].state == "running"; }));

  h.stop();
  REQUIRE(h.fake.submit_count() == 3);

  SECTION("its jobs still running") {}
  SECTION("its jobs ended while the service was down") {
    h.complete(a);
  }

  const auto polls_before = h.fake.poll_count();
  h.boot();
  CHECK(h.service->active() == 3);
  CHECK(h.state(b) == "queued");
  CHECK(h.state(c) == "queued");

  // Re-attached, not resubmitted: the stages have job ids, so no lookup either.
  REQUIRE(h.run_until([&] { return h.fake.poll_count() > polls_before; }));
  CHECK(h.fake.submit_count() == 3);
  CHECK(h.fake.find_count() == 0);
  const auto stored_a = h.stored(a);
  REQUIRE(stored_a.stages.size() == 3);
  CHECK(stored_a.stages[0].job_id == "fake-1");
  CHECK(stored_a.stages[1].job_id == "fake-2");
  CHECK(stored_a.stages[2].job_id == "fake-3");
  const auto last_poll = h.fake.poll_calls().back();
  CHECK(std::find(last_poll.begin(), last_poll.end(), JobId{"fake-2"}) != last_poll.end());

  h.complete(a);
  REQUIRE(h.run_until([&] { return h.running_with_jobs(b); }));
  CHECK(h.state(a) == "published");
  CHECK(h.jobs_of(a) == std::vector<std::string>{"fake-1", "fake-2", "fake-3"});
  CHECK(h.jobs_of(b) == std::vector<std::string>{"fake-4", "fake-5", "fake-6"});
  CHECK(h.jobs_of(c).empty());
  CHECK(h.state(c) == "queued");

  h.complete(b);
  REQUIRE(h.run_until([&] { return h.running_with_jobs(c); }));
  h.complete(c);
  REQUIRE(h.run_until([&] { return h.state(c) == "published"; }));
  h.run_for(50ms);
  CHECK(h.publishes_of(a) == 1);
  CHECK(h.publishes_of(b) == 1);
  CHECK(h.publishes_of(c) == 1);
  CHECK(h.fake.submit_count() == 9);
  CHECK(h.fake.find_count() == 0);
}

TEST_CASE("service: a stage stored as submitting without a job id is looked up before any submit",
          "[service]") {
  Harness h;
  OrderLog log(h.fake);
  h.sched = &log;
  // The service uses `log` until it is destroyed: stop it before `log` goes out of scope.
  struct StopFirst {
    Harness& h;
    ~StopFirst() { h.stop(); }
  } stop_first{h};

  // What the store holds after a crash between "saved as submitting" and "job id saved".
  const auto spec = env_spec("env");
  const std::string id = "20261125T074455Z-0000abcd";
  auto plan = flow::make_plan(h.config, spec, id, render::TemplateSet(h.config.templates_dir));
  REQUIRE(plan.has_value());
  REQUIRE(flow::write_plan(*plan).has_value());
  flow::BuildStatus b;
  b.id = id;
  b.spec = spec;
  b.state = flow::BuildState::submitting;
  b.requested = h.clock.now();
  b.build_dir = plan->build_dir;
  for (const auto& stage : flow::stage_names()) {
    flow::StageStatus st;
    st.name = stage;
    st.job_name = flow::job_name(spec, stage);
    b.stages.push_back(st);
  }
  b.stages[0].submitting = true;
  {
    auto s = store::Store::open(h.db_path());
    REQUIRE(s.has_value());
    REQUIRE((*s)->save(service::to_record(b, "fake")).has_value());
    auto back = (*s)->get(id);
    REQUIRE(back.has_value());
    REQUIRE(back->has_value());
    CHECK((**back).stages[0].state == "submitting");
    CHECK((**back).stages[0].job_id.empty());
  }

  SECTION("the scheduler has the job: it is adopted, not submitted again") {
    // The submission that went through before the crash.
    auto pre = h.fake.submit(plan->job_spec(plan->stages[0], {}));
    REQUIRE(pre.has_value());
    REQUIRE(pre->value == "fake-1");

    h.boot();
    REQUIRE(h.run_until([&] { return h.running_with_jobs(id); }));
    CHECK(log.calls() == std::vector<std::string>{"find:sp.alice.env-1.concretize",
                                                  "submit:sp.alice.env-1.build",
                                                  "submit:sp.alice.env-1.module"});
    CHECK(h.fake.submit_count() == 3); // the one before the crash and two after
    CHECK(h.stored(id).stages[0].job_id == "fake-1");
    const auto specs = h.fake.submitted();
    REQUIRE(specs.size() == 3);
    REQUIRE(specs[1].after_ok.size() == 1);
    CHECK(specs[1].after_ok[0].value == "fake-1");
  }
  SECTION("the scheduler does not have the job: it is submitted after the lookup") {
    h.boot();
    REQUIRE(h.run_until([&] { return h.running_with_jobs(id); }));
    CHECK(log.calls() == std::vector<std::string>{
                             "find:sp.alice.env-1.concretize", "submit:sp.alice.env-1.concretize",
                             "submit:sp.alice.env-1.build", "submit:sp.alice.env-1.module"});
    CHECK(h.stored(id).stages[0].job_id == "fake-1");
  }
  CHECK(h.fake.find_count() == 1);

  h.complete(id);
  REQUIRE(h.run_until([&] { return h.state(id) == "published"; }));
  CHECK(h.publishes_of(id) == 1);
}

TEST_CASE("service: cancel", "[service]") {
  Harness h(1);
  h.boot();

  auto unknown = h.service->cancel("no-such-build");
  REQUIRE(unknown.has_value());
  CHECK_FALSE(*unknown);

  const std::string a = h.submit("env-a");
  const std::string b = h.submit("env-b");
  REQUIRE(h.run_until([&] { return h.running_with_jobs(a); }));

  SECTION("a queued build is cancelled at once and never submitted") {
    auto r = h.service->cancel(b);
    REQUIRE(r.has_value());
    CHECK(*r);
    const auto rec = h.stored(b); // no io run: cancelled and stored synchronously
    CHECK(rec.state == "cancelled");
    CHECK(rec.cancel_requested);
    CHECK(rec.done.has_value());
    for (const auto& st : rec.stages) {
      CHECK(st.state == "cancelled");
      CHECK(st.job_id.empty());
    }
    CHECK(h.fake.cancel_count() == 0);
    CHECK(h.service->active() == 1);

    // The freed queue slot does not bring it back when the running build ends.
    h.complete(a);
    REQUIRE(h.run_until([&] { return h.state(a) == "published"; }));
    h.run_for(50ms);
    CHECK(h.jobs_of(b).empty());
    CHECK(h.fake.submit_count() == 3);
    CHECK(h.state(b) == "cancelled");
    CHECK(h.publishes_of(b) == 0);

    auto again = h.service->cancel(b);
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().kind == ErrorKind::invalid_input);
  }
  SECTION("a running build's jobs are cancelled in one scheduler call") {
    auto r = h.service->cancel(a);
    REQUIRE(r.has_value());
    CHECK(*r);
    REQUIRE(h.run_until([&] { return h.state(a) == "cancelled"; }));
    const auto cancels = h.fake.cancel_calls();
    REQUIRE(cancels.size() == 1);
    CHECK(cancels[0] == std::vector<JobId>{JobId{"fake-1"}, JobId{"fake-2"}, JobId{"fake-3"}});
    const auto calls = h.publisher.calls();
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].request.build_id == a);
    CHECK_FALSE(calls[0].request.success);
    CHECK(h.stored(a).cancel_requested);

    // Its slot goes to the queued build.
    REQUIRE(h.run_until([&] { return h.running_with_jobs(b); }));

    auto again = h.service->cancel(a);
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().kind == ErrorKind::invalid_input);
  }
}

TEST_CASE("service: a store that cannot be written refuses the submission", "[service]") {
  Harness h;
  // max_page_count cannot go below the current size: 1 means "no more pages than now".
  store::SqliteOptions full;
  full.max_page_count = 1;
  h.boot(full);
  CHECK(h.service->healthy());

  auto big_spec = env_spec("env").get();
  big_spec.description = std::string(60 * 1024, 'd'); // needs overflow pages
  const auto big = testing::valid_spec(big_spec);
  auto r = h.service->submit(big, {});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == ErrorKind::io);
  CHECK_THAT(r.error().message, Catch::Contains("disk full"));

  const auto health = h.service->healthy();
  REQUIRE_FALSE(health);
  CHECK_THAT(health.error().describe(),
             Catch::StartsWith("store: ") && Catch::Contains("disk full"));
  CHECK_THAT(h.service->metrics_text(), Catch::Contains("softpack_store_healthy 0\n"));

  h.run_for(50ms);
  CHECK(h.fake.submit_count() == 0);
  CHECK(h.service->active() == 0);
  CHECK(*h.service->environments_status_json() == "[]");
  CHECK(*h.service->builds_json() == "[]");
  CHECK_FALSE(std::filesystem::exists(h.config.builds_dir()));
  auto all = h.store->all();
  REQUIRE(all.has_value());
  CHECK(all->empty());

  // Nothing is remembered: the same environment is a new submission, not a duplicate.
  auto retry = h.service->submit(big, {});
  REQUIRE_FALSE(retry.has_value());
  CHECK(h.service->active() == 0);
}

TEST_CASE("service: GitLab pushes that need no work are ignored", "[service]") {
  Harness h;
  h.boot();

  server::GitlabPush push;
  push.object_kind = "push";
  push.ref = "refs/heads/main";
  push.before = "95790bf891e76fee5e1747ab589903a6a1f80f22";
  push.after = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
  push.checkout_sha = push.after;
  push.project_path = "hgi/softpack-artifacts";

  SECTION("a duplicate delivery") {
    auto elsewhere = push;
    elsewhere.ref = "refs/heads/dev";
    auto first = h.service->gitlab_push("uuid-1", elsewhere);
    REQUIRE(first.has_value());
    CHECK_FALSE(first->queued);
    // The same delivery again, even with work in it, is not looked at.
    auto dup = h.service->gitlab_push("uuid-1", push);
    REQUIRE(dup.has_value());
    CHECK_FALSE(dup->queued);
    CHECK_THAT(dup->message, Catch::Contains("duplicate"));
    const auto metrics = h.service->metrics_text();
    CHECK_THAT(metrics, Catch::Contains("softpack_webhook_deliveries_total 2\n"));
    CHECK_THAT(metrics, Catch::Contains("softpack_webhook_duplicate_deliveries_total 1\n"));
    h.run_for(50ms);
    CHECK(h.runner.calls().empty());
  }
  SECTION("a push to another branch") {
    auto other = push;
    other.ref = "refs/heads/feature";
    auto r = h.service->gitlab_push("uuid-4", other);
    REQUIRE(r.has_value());
    CHECK_FALSE(r->queued);
    CHECK_THAT(r->message, Catch::Contains("refs/heads/feature") && Catch::Contains("ignored"));
    h.run_for(50ms);
    CHECK(h.runner.calls().empty());
  }
  SECTION("the branch deleted") {
    auto deleted = push;
    deleted.after = std::string(40, '0');
    auto r = h.service->gitlab_push("uuid-5", deleted);
    REQUIRE(r.has_value());
    CHECK_FALSE(r->queued);
    h.run_for(50ms);
    CHECK(h.runner.calls().empty());
  }
  CHECK(h.fake.submit_count() == 0);
  CHECK(h.service->active() == 0);
}

TEST_CASE("service: a delivery whose repository cannot be read is handled again when redelivered",
          "[service]") {
  Harness h;
  h.boot();
  server::GitlabPush push;
  push.object_kind = "push";
  push.ref = "refs/heads/main";
  push.before = "95790bf891e76fee5e1747ab589903a6a1f80f22";
  push.after = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";

  // No scripted answer: every git command fails, as a fetch from an unreachable remote does.
  auto first = h.service->gitlab_push("key-1", push);
  REQUIRE(first.has_value());
  CHECK(first->queued);
  REQUIRE(h.run_until([&] {
    return h.service->metrics_text().find("softpack_webhook_failed_deliveries_total 1\n") !=
           std::string::npos;
  }));
  auto recorded = h.store->delivery_recorded("key-1");
  REQUIRE(recorded);
  CHECK_FALSE(*recorded);

  // The remote is back (git answers; the push changed nothing under environments/).
  h.runner.respond_ok("git", "");
  const auto calls_before = h.runner.count("git");
  auto again = h.service->gitlab_push("key-1", push);
  REQUIRE(again.has_value());
  CHECK(again->queued);
  CHECK_THAT(again->message, !Catch::Contains("duplicate"));
  REQUIRE(h.run_until([&] {
    auto r = h.store->delivery_recorded("key-1");
    return r && *r;
  }));
  CHECK(h.runner.count("git") > calls_before);

  // Now handled: a third delivery of it is a duplicate, and git is not asked again.
  const auto calls_after = h.runner.count("git");
  auto third = h.service->gitlab_push("key-1", push);
  REQUIRE(third.has_value());
  CHECK_FALSE(third->queued);
  CHECK_THAT(third->message, Catch::Contains("duplicate"));
  h.run_for(50ms);
  CHECK(h.runner.count("git") == calls_after);
  CHECK(h.fake.submit_count() == 0);
}

TEST_CASE("service: a stored build whose plan cannot be re-made at start ends failed",
          "[service]") {
  Harness h;
  h.boot();
  const std::string a = h.submit("env-a");
  REQUIRE(h.run_until([&] { return h.running_with_jobs(a); }));
  h.stop();

  // E.g. the templates moved in an upgrade: the running build cannot be followed any more.
  h.config.templates_dir = h.dir / "no-templates";
  h.boot();
  const auto rec = h.stored(a);
  CHECK(rec.state == "failed");
  CHECK_THAT(rec.error, Catch::Contains("could not resume"));
  CHECK(rec.done.has_value());
  CHECK(h.service->active() == 0);
  // Not left in limbo: the environment can be submitted again.
  auto again = h.service->submit(env_spec("env-a"), {});
  REQUIRE(again.has_value());
  CHECK_FALSE(again->existing);
  CHECK(again->build_id != a);
}

TEST_CASE("service: a scheduler or publisher that throws ends no other build, nor the service",
          "[service]") {
  Harness h;
  h.boot();
  h.fake.throw_on_submit_of("thrown");
  h.publisher.throw_for_environment("unlucky");
  const std::string thrown = h.submit("thrown");
  const std::string unlucky = h.submit("unlucky");
  const std::string fine = h.submit("fine");
  REQUIRE(h.run_until([&] { return h.state(thrown) == "failed"; }));
  CHECK_THAT(h.stored(thrown).error, Catch::Contains("unexpected exception"));
  REQUIRE(h.run_until([&] { return h.running_with_jobs(unlucky) && h.running_with_jobs(fine); }));
  h.fake.throw_next_polls(1);
  h.complete(unlucky);
  h.complete(fine);
  REQUIRE(h.run_until([&] { return h.state(fine) == "published"; }));
  // The unlucky build's destination keeps failing (it is retried), and the service still
  // answers and takes new builds.
  CHECK(h.state(unlucky) == "publishing");
  CHECK(h.service->healthy());
  CHECK_THAT(*h.service->environments_status_json(), Catch::Contains("users/alice/fine-1"));
  const std::string later = h.submit("later");
  REQUIRE(h.run_until([&] { return h.running_with_jobs(later); }));
}

namespace {

const auth::Requester k_alice{auth::Requester::Kind::user, "alice", 1001};
const auth::Requester k_bob{auth::Requester::Kind::user, "bob", 1002};
const auth::Requester k_ci{auth::Requester::Kind::token, "ci", std::nullopt};
const auth::Requester k_core{auth::Requester::Kind::core, "10.0.0.5", std::nullopt};

server::SubmitOutcome submit_as(Harness& h, const std::string& env, const auth::Requester& who) {
  auto r = h.service->submit(env_spec(env), who);
  INFO((r ? std::string() : r.error().describe()));
  REQUIRE(r.has_value());
  CHECK_FALSE(r->existing);
  return *r;
}

json::object build_doc(Harness& h, const std::string& id) {
  auto text = h.service->build_json(id);
  REQUIRE(text.has_value());
  return json::parse(*text).as_object();
}

std::string per_user_reason(const std::string& login, int n, int limit) {
  return "waiting: " + login + " has " + std::to_string(n) +
         " builds in flight (server.max_builds_per_user: " + std::to_string(limit) + ")";
}

} // namespace

TEST_CASE("service: who asked is stored, shown, given to the scheduler and survives a restart",
          "[service]") {
  Harness h;
  h.boot();
  const std::string a = submit_as(h, "env-a", k_alice).build_id;
  const std::string n = submit_as(h, "env-n", {}).build_id;
  const auto rec = h.stored(a); // saved before submit returned
  CHECK(rec.requester_kind == "user");
  CHECK(rec.requester_name == "alice");
  CHECK(rec.requester_uid == 1001);
  CHECK(h.stored(n).requester_kind == "none");

  auto check_views = [&] {
    const auto doc = build_doc(h, a);
    REQUIRE(doc.if_contains("requested_by"));
    const auto& by = doc.at("requested_by").as_object();
    CHECK(by.at("kind").as_string() == "user");
    CHECK(by.at("name").as_string() == "alice");
    CHECK(by.at("uid").as_int64() == 1001);
    CHECK(doc.at("queue_reason").as_string() == "");
    CHECK(build_doc(h, n).at("requested_by").is_null());
    const auto list = json::parse(*h.service->builds_json()).as_array();
    REQUIRE(list.size() == 2);
    CHECK(list[0].as_object().at("requested_by").as_object().at("name").as_string() == "alice");
    auto owner = h.service->build_owner(a);
    REQUIRE(owner.has_value());
    CHECK(owner->env_path == "users/alice");
    CHECK(owner->requested_by == k_alice);
  };
  check_views();
  CHECK_FALSE(h.service->build_owner("no-such-build").has_value());

  REQUIRE(h.run_until([&] { return h.running_with_jobs(a) && h.running_with_jobs(n); }));
  for (const auto& spec : h.fake.submitted()) {
    CHECK(spec.requested_by == (spec.comment == a ? "alice" : ""));
  }
  h.stop();
  h.boot();
  check_views();
}

TEST_CASE("service: a user with max_builds_per_user builds in flight waits; others go first",
          "[service]") {
  Harness h;
  h.config.server.max_builds_per_user = 1;
  h.boot();
  const std::string a1 = submit_as(h, "env-a1", k_alice).build_id;
  const auto second = submit_as(h, "env-a2", k_alice);
  const std::string a2 = second.build_id;
  const std::string b1 = submit_as(h, "env-b1", k_bob).build_id;
  REQUIRE(h.run_until([&] { return h.running_with_jobs(a1) && h.running_with_jobs(b1); }));
  h.run_for(50ms);
  CHECK(h.jobs_of(a2).empty());
  CHECK(h.state(a2) == "queued");
  const std::string reason = per_user_reason("alice", 1, 1);
  CHECK(second.queue_reason == reason);
  CHECK(h.stored(a2).queue_reason == reason);
  CHECK(build_doc(h, a2).at("queue_reason").as_string() == reason);
  CHECK(h.stored(a1).queue_reason.empty());
  CHECK(build_doc(h, b1).at("queue_reason").as_string() == "");

  // The same request again answers with the reason too.
  auto dup = h.service->submit(env_spec("env-a2"), k_alice);
  REQUIRE(dup.has_value());
  CHECK(dup->existing);
  CHECK(dup->queue_reason == reason);

  // Released when alice's first build ends; the reason is cleared once it starts.
  h.complete(a1);
  REQUIRE(h.run_until([&] { return h.running_with_jobs(a2); }));
  CHECK(h.state(a1) == "published");
  CHECK(h.stored(a2).queue_reason.empty());
  CHECK(build_doc(h, a2).at("queue_reason").as_string() == "");
}

TEST_CASE("service: builds of tokens, softpack-core and the webhook are not held per user",
          "[service]") {
  Harness h;
  h.config.server.max_builds_per_user = 1;
  h.boot();
  const std::string t1 = submit_as(h, "env-t1", k_ci).build_id;
  const std::string t2 = submit_as(h, "env-t2", k_ci).build_id;
  const std::string c1 = submit_as(h, "env-c1", k_core).build_id;
  const std::string c2 = submit_as(h, "env-c2", k_core).build_id;
  const std::string w1 =
      submit_as(h, "env-w1", {auth::Requester::Kind::webhook, "", std::nullopt}).build_id;
  const std::string w2 =
      submit_as(h, "env-w2", {auth::Requester::Kind::webhook, "", std::nullopt}).build_id;
  // Nor do they count against a user.
  const auto alice = submit_as(h, "env-a1", k_alice);
  CHECK(alice.queue_reason.empty());
  REQUIRE(h.run_until([&] {
    for (const auto& id : {t1, t2, c1, c2, w1, w2, alice.build_id}) {
      if (!h.running_with_jobs(id)) {
        return false;
      }
    }
    return true;
  }));
}

TEST_CASE("service: a build waiting only for a slot says so; the per-user wait takes precedence",
          "[service]") {
  Harness h(1);
  h.config.server.max_builds_per_user = 1;
  h.boot();
  const std::string a1 = submit_as(h, "env-a1", k_alice).build_id;
  const auto b1 = submit_as(h, "env-b1", k_bob);
  const auto a2 = submit_as(h, "env-a2", k_alice);
  REQUIRE(h.run_until([&] { return h.running_with_jobs(a1); }));
  CHECK(b1.queue_reason == "waiting for a slot (server.max_builds_in_flight: 1)");
  CHECK(h.stored(b1.build_id).queue_reason == b1.queue_reason);
  CHECK(a2.queue_reason == per_user_reason("alice", 1, 1));

  // Bob's build takes the slot before alice's second (FIFO among those that may start).
  h.complete(a1);
  REQUIRE(h.run_until([&] { return h.running_with_jobs(b1.build_id); }));
  h.run_for(50ms);
  CHECK(h.state(a2.build_id) == "queued");
  CHECK(h.stored(a2.build_id).queue_reason ==
        "waiting for a slot (server.max_builds_in_flight: 1)");
  h.complete(b1.build_id);
  REQUIRE(h.run_until([&] { return h.running_with_jobs(a2.build_id); }));
  CHECK(h.stored(a2.build_id).queue_reason.empty());
}

TEST_CASE("service: a restart keeps a held build's reason until it starts", "[service]") {
  Harness h;
  h.config.server.max_builds_per_user = 1;
  h.boot();
  const std::string a1 = submit_as(h, "env-a1", k_alice).build_id;
  const std::string a2 = submit_as(h, "env-a2", k_alice).build_id;
  REQUIRE(h.run_until([&] { return h.running_with_jobs(a1); }));
  const std::string reason = per_user_reason("alice", 1, 1);
  CHECK(h.stored(a2).queue_reason == reason);
  h.stop();
  h.boot();
  CHECK(h.state(a2) == "queued");
  CHECK(h.stored(a2).queue_reason == reason);
  CHECK(build_doc(h, a2).at("queue_reason").as_string() == reason);
  const auto owner = h.service->build_owner(a2);
  REQUIRE(owner.has_value());
  CHECK(owner->requested_by == k_alice);
  h.run_for(50ms);
  CHECK(h.jobs_of(a2).empty());
  h.complete(a1);
  REQUIRE(h.run_until([&] { return h.running_with_jobs(a2); }));
  CHECK(h.stored(a2).queue_reason.empty());
}
