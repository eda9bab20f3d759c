// The service's parts on their own: the queue, what a push asks for, and the views.
#include "service/queue.hpp"
#include "service/views.hpp"
#include "service/webhook.hpp"
#include "support/fixtures.hpp"
#include "support/specs.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace softpack;
using namespace std::chrono_literals;
using softpack::testing::fixture;

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

TEST_CASE("service queue: builds held back keep their place; the rest go in order", "[service]") {
  service::BuildQueue q(3);
  for (const char* id : {"a1", "b1", "a2", "c1"}) {
    q.push(id);
  }
  auto not_a = [](const std::string& id) { return id[0] != 'a'; };
  CHECK_FALSE(q.next(3, not_a).has_value()); // no slot, whoever waits
  CHECK(q.next(0, not_a) == std::optional<std::string>("b1"));
  CHECK(q.next(1, not_a) == std::optional<std::string>("c1"));
  CHECK_FALSE(q.next(2, not_a).has_value()); // a slot, but only held builds wait
  CHECK(q.waiting() == std::vector<std::string>{"a1", "a2"});
  CHECK(q.next(2) == std::optional<std::string>("a1")); // released: oldest first
  CHECK(q.waiting() == std::vector<std::string>{"a2"});
  CHECK(q.slot_free(2));
  CHECK_FALSE(q.slot_free(3));
}

namespace {

const std::string k_before = "95790bf891e76fee5e1747ab589903a6a1f80f22";
const std::string k_after = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
const std::string k_zero = "0000000000000000000000000000000000000000";

config::ArtifactsConfig artifacts_config() {
  config::ArtifactsConfig artifacts;
  artifacts.branch = "main";
  artifacts.author_email = "softpack-builder@localhost";
  return artifacts;
}

artifacts::LoggedCommit logged(std::string email, std::string message,
                               std::vector<std::string> files) {
  artifacts::LoggedCommit c;
  c.id = k_after;
  c.author_email = std::move(email);
  c.message = std::move(message);
  c.files = std::move(files);
  return c;
}

std::vector<std::string> files_of(const std::vector<server::ChangedEnvironment>& envs) {
  std::vector<std::string> out;
  for (const auto& e : envs) {
    out.push_back(e.file);
  }
  return out;
}

} // namespace

TEST_CASE("service webhook: what a push asks for", "[service][webhook]") {
  const auto artifacts = artifacts_config();
  server::GitlabPush push;
  push.ref = "refs/heads/main";
  push.before = k_before;
  push.after = k_after;
  push.user_username = "jsmith";
  // The payload's commit list plays no part: GitLab lists at most 20 of them.
  push.commits.clear();

  auto plan = service::plan_push(push, artifacts);
  CHECK(plan.read);
  CHECK(plan.pusher == "jsmith"); // the builds are attributed to them
  CHECK(plan.before == k_before);
  CHECK(plan.after == k_after);
  CHECK_THAT(plan.message,
             Catch::Contains("queued") && Catch::Contains("95790bf891e7..da1560886d4f"));

  SECTION("another branch") {
    push.ref = "refs/heads/dev";
    plan = service::plan_push(push, artifacts);
    CHECK_FALSE(plan.read);
    CHECK_THAT(plan.message, Catch::Contains("refs/heads/dev ignored (builds come from main)"));
  }
  SECTION("a tag of the branch's name") {
    push.ref = "refs/tags/main";
    CHECK_FALSE(service::plan_push(push, artifacts).read);
  }
  SECTION("a new branch: no before") {
    push.before = k_zero;
    plan = service::plan_push(push, artifacts);
    CHECK(plan.read);
    CHECK(plan.before.empty());
    CHECK_THAT(plan.message, Catch::Contains("creating refs/heads/main"));
  }
  SECTION("the branch deleted") {
    push.after = k_zero;
    plan = service::plan_push(push, artifacts);
    CHECK_FALSE(plan.read);
    CHECK_THAT(plan.message, Catch::Contains("deletion"));
  }
  SECTION("no after") {
    push.after.clear();
    CHECK_FALSE(service::plan_push(push, artifacts).read);
  }
}

TEST_CASE("service webhook: the builder's commits, by author email or trailer line",
          "[service][webhook]") {
  const auto artifacts = artifacts_config();
  CHECK(service::made_by_builder(logged("softpack-builder@localhost", "x\n", {}), artifacts));
  CHECK(service::made_by_builder(logged("SoftPack-Builder@LOCALHOST", "x\n", {}), artifacts));
  CHECK(service::made_by_builder(
      logged("bot@example.org", "Add built environment\n\nSoftpack-Build-Id: 1-2\n", {}),
      artifacts));
  CHECK_FALSE(service::made_by_builder(logged("alice@example.org", "Add env\n", {}), artifacts));
  // Mentioning the trailer is not having it.
  CHECK_FALSE(service::made_by_builder(
      logged("alice@example.org", "Revert \"x\" (had Softpack-Build-Id: 1-2)\n", {}), artifacts));
  auto no_email = artifacts;
  no_email.author_email.clear();
  CHECK_FALSE(service::made_by_builder(logged("", "x\n", {}), no_email));
}

TEST_CASE("service webhook: which changed softpack.yml files a user changed",
          "[service][webhook]") {
  const auto artifacts = artifacts_config();
  const std::string a = "environments/users/alice/a-1/softpack.yml";
  const std::string b = "environments/groups/hgi/b-2/softpack.yml";
  const std::string builder = "softpack-builder@localhost";
  const std::string trailer = "Add built environment\n\nSoftpack-Build-Id: 20261201T1-0\n";

  SECTION("only softpack.yml files of environments count") {
    const std::vector<std::string> changed{a, "environments/users/alice/a-1/module", "README",
                                           "environments/users/alice/x/softpack.yml", b};
    const auto out = service::environments_to_check(
        changed, {logged("alice@example.org", "m\n", changed)}, artifacts);
    CHECK(files_of(out.environments) == std::vector<std::string>{a, b});
    CHECK(out.builders_own.empty());
  }
  SECTION("touched by the builder's commits only: its own, skipped") {
    const auto out = service::environments_to_check(
        {a, b}, {logged(builder, "m\n", {a}), logged("x@y", trailer, {b})}, artifacts);
    CHECK(out.environments.empty());
    CHECK(out.builders_own == std::vector<std::string>{a, b});
  }
  SECTION("a push mixing builder and user commits on one file: the user's edit wins") {
    const auto out = service::environments_to_check({a, b},
                                                    {logged(builder, trailer, {a, b}),
                                                     logged("alice@example.org", "edit a\n", {a}),
                                                     logged(builder, trailer, {a})},
                                                    artifacts);
    CHECK(files_of(out.environments) == std::vector<std::string>{a});
    CHECK(out.builders_own == std::vector<std::string>{b});
  }
  SECTION("changed but named by no commit (a merge's resolution): a user's") {
    const auto out = service::environments_to_check({a}, {}, artifacts);
    CHECK(files_of(out.environments) == std::vector<std::string>{a});
  }
  SECTION("each file once") {
    const auto out = service::environments_to_check({a, a}, {}, artifacts);
    CHECK(out.environments.size() == 1);
  }
}

TEST_CASE("service webhook: a recorded git log of a builder commit, a user branch and a merge",
          "[service][webhook]") {
  // tests/fixtures/gitlab/README.md says how the repository was made.
  auto changed =
      artifacts::parse_name_list(fixture("gitlab/mirror_diff_tree_builder_user_merge.z"));
  REQUIRE(changed);
  auto commits =
      artifacts::parse_log(fixture("gitlab/mirror_log_builder_user_merge.z"), "environments/");
  REQUIRE(commits);
  const auto out = service::environments_to_check(*changed, *commits, artifacts_config());
  CHECK(files_of(out.environments) ==
        std::vector<std::string>{"environments/groups/hgi/b-2/softpack.yml"});
  CHECK(out.builders_own == std::vector<std::string>{"environments/users/alice/a-1/softpack.yml"});
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
  // Publishing: its jobs have ended (none has an end time here: its start stands in).
  CHECK(status.as_array()[1].as_object().at("BuildDone") == "2025-11-24T16:00:10Z");

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

  SECTION("a build that ended without starting is neither queued nor building for core") {
    auto never = build("d1", "d", flow::BuildState::cancelled, 4);
    const auto one = boost::json::parse(service::environments_status_json({&never}));
    const auto& o = one.as_array()[0].as_object();
    CHECK(o.at("BuildStart").as_string() == format_rfc3339(never.requested));
    CHECK(o.at("BuildDone").as_string() == format_rfc3339(never.requested));
    never.state = flow::BuildState::publishing; // builder.out of a failed submission
    CHECK(service::jobs_done(never) == never.requested);
  }

  SECTION("bounded: the unfinished, and the newest finished") {
    auto running = build("c1", "c", flow::BuildState::running, 3);
    const auto bounded = boost::json::parse(
        service::environments_status_json({&old_a, &b, &running}, /*max_finished=*/1));
    REQUIRE(bounded.as_array().size() == 2);
    CHECK(bounded.as_array()[0].as_object().at("Name") == "users/alice/b-1");
    CHECK(bounded.as_array()[1].as_object().at("Name") == "users/alice/c-1");
  }
}
