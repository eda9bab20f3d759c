// The service's parts on their own: the queue, what a push asks for, and the views.
#include "service/queue.hpp"
#include "service/views.hpp"
#include "service/webhook.hpp"
#include "support/specs.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace softpack;
using namespace std::chrono_literals;

TEST_CASE("service queue: oldest first, only into a free slot", "[service]") {
  service::BuildQueue q(2);
  q.push("a");
  q.push("b");
  q.push("c");
  CHECK_FALSE(q.next(2).has_value()); // no slot
  CHECK(q.next(1) == std::optional<std::string>("a"));
  q.remove("b"); // cancelled while it waited
  CHECK(q.next(0) == std::optional<std::string>("c"));
  CHECK_FALSE(q.next(0).has_value()); // none waiting
  CHECK(q.size() == 0);
}

TEST_CASE("service webhook: what a push asks for", "[service][webhook]") {
  config::ArtifactsConfig artifacts;
  artifacts.branch = "main";
  artifacts.author_email = "softpack-builder@localhost";
  server::GitlabPush push;
  push.ref = "refs/heads/main";
  push.after = "after-sha";
  push.checkout_sha = "checkout-sha";
  server::GitlabCommit c;
  c.author_email = "alice@example.org";
  c.added = {"environments/users/alice/env-1/softpack.yml"};
  push.commits = {c};

  auto work = service::plan_push(push, artifacts);
  REQUIRE(work.environments.size() == 1);
  CHECK(work.environments[0].name == "env");
  CHECK(work.commit == "checkout-sha");
  CHECK(work.message == "1 environment(s) to check");

  SECTION("another branch") {
    push.ref = "refs/heads/dev";
    work = service::plan_push(push, artifacts);
    CHECK(work.environments.empty());
    CHECK_THAT(work.message, Catch::Contains("ignored (builds come from main)"));
  }
  SECTION("the builder's own commits, by author or trailer") {
    push.commits[0].author_email = artifacts.author_email;
    CHECK(service::plan_push(push, artifacts).environments.empty());
    push.commits[0].author_email = "bot@example.org";
    push.commits[0].message = "build env\n\nSoftpack-Build-Id: 123\n";
    work = service::plan_push(push, artifacts);
    CHECK(work.environments.empty());
    CHECK(work.message == "push made by softpack-builder ignored");
  }
  SECTION("no softpack.yml changed") {
    push.commits[0].added = {"README.md"};
    work = service::plan_push(push, artifacts);
    CHECK(work.environments.empty());
    CHECK(work.message == "no environment's softpack.yml changed");
  }
}

TEST_CASE("service views: the status array and metrics", "[service]") {
  flow::BuildStatus done, running;
  done.id = "b1";
  done.spec = testing::valid_spec("users/alice", "env");
  done.state = flow::BuildState::published;
  done.requested = from_unix_seconds(1'764'000'000);
  done.started = done.requested + 10s;
  done.done = done.requested + 60s;
  running = done;
  running.id = "b2";
  running.spec = testing::valid_spec("groups/hgi", "tools", "2");
  running.state = flow::BuildState::publishing;
  running.done.reset();
  flow::DestinationStatus d;
  d.name = "git";
  d.attempts = 2;
  running.destinations = {d};

  const auto status = boost::json::parse(service::environments_status_json({&done, &running}));
  REQUIRE(status.as_array().size() == 2);
  const auto& first = status.as_array()[0].as_object();
  CHECK(first.at("Name") == "users/alice/env-1");
  CHECK(first.at("BuildStart") == "2025-11-24T16:00:10Z");
  CHECK(first.at("BuildDone") == "2025-11-24T16:01:00Z");
  CHECK(status.as_array()[1].as_object().at("BuildDone").is_null());

  const auto one = boost::json::parse(service::build_json(running, false)).as_object();
  CHECK(one.at("state") == "publishing");
  CHECK(one.at("destinations").as_array()[0].as_object().at("attempts") == 2);

  service::MetricsInput in;
  in.builds = {&done, &running};
  in.destinations = {"install", "git"};
  in.scheduler = "slurm";
  in.poll_calls = 7;
  in.store_healthy = false;
  const std::string text = service::metrics_text(in);
  CHECK_THAT(text, Catch::Contains("softpack_builds{state=\"published\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("softpack_builds{state=\"queued\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("softpack_publish_retrying{destination=\"git\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("softpack_publish_retrying{destination=\"install\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("softpack_scheduler_polls_total{scheduler=\"slurm\"} 7\n"));
  CHECK_THAT(text, Catch::Contains("softpack_store_healthy 0\n"));
}

TEST_CASE("service views: the status array has the latest build of each environment", "[service]") {
  const auto t0 = from_unix_seconds(1'764'000'000);
  auto build = [&](std::string id, std::string name, flow::BuildState state, int minute) {
    flow::BuildStatus b;
    b.id = std::move(id);
    b.spec = testing::valid_spec("users/alice", std::move(name));
    b.state = state;
    b.requested = t0 + std::chrono::minutes(minute);
    return b;
  };
  auto old_a = build("a1", "a", flow::BuildState::failed, 0);
  old_a.done = t0 + 5min;
  auto b = build("b1", "b", flow::BuildState::published, 1);
  b.done = t0 + 9min;
  auto new_a = build("a2", "a", flow::BuildState::publishing, 2);
  new_a.started = t0 + 3min;
  flow::StageStatus st;
  st.name = "module";
  st.state = scheduler::JobState::completed;
  st.ended = t0 + 7min;
  new_a.stages = {st};

  const auto doc = boost::json::parse(service::environments_status_json({&old_a, &b, &new_a}));
  const auto& a = doc.as_array();
  REQUIRE(a.size() == 2); // one entry per environment
  CHECK(a[0].as_object().at("Name") == "users/alice/b-1");
  CHECK(a[1].as_object().at("Name") == "users/alice/a-1");
  CHECK(a[1].as_object().at("Requested").as_string() == format_rfc3339(new_a.requested));
  // Its jobs have ended: BuildDone, although publishing goes on (as go-softpack-builder).
  CHECK(a[1].as_object().at("BuildDone").as_string() == format_rfc3339(t0 + 7min));
  CHECK(service::jobs_done(new_a) == t0 + 7min);
  new_a.state = flow::BuildState::running;
  CHECK_FALSE(service::jobs_done(new_a).has_value());

  SECTION("bounded: the unfinished, and the newest finished") {
    auto running = build("c1", "c", flow::BuildState::running, 3);
    const auto bounded = boost::json::parse(
        service::environments_status_json({&old_a, &b, &running}, /*max_finished=*/1));
    REQUIRE(bounded.as_array().size() == 2);
    CHECK(bounded.as_array()[0].as_object().at("Name") == "users/alice/b-1");
    CHECK(bounded.as_array()[1].as_object().at("Name") == "users/alice/c-1");
  }
}
