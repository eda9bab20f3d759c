#include "flow/publishing.hpp"
#include "support/fake_publisher.hpp"
#include "support/manual_clock.hpp"
#include "support/specs.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

using namespace softpack;
using namespace std::chrono_literals;
using flow::BuildState;
using flow::BuildStatus;
using flow::DestinationState;
using flow::Publishing;
using flow::Recorded;
using scheduler::JobState;
using testing::FakePublisher;

namespace {

// A destination whose reference is the build's record, as git's commit is.
class RecordPublisher final : public artifacts::Publisher {
public:
  std::string name() const override { return "record"; }
  bool reference_is_record() const override { return true; }
  Expected<artifacts::PublishResult> publish(const artifacts::PublishRequest&) override {
    return artifacts::PublishResult{"record", "commit-1"};
  }
};

BuildStatus ended_build(bool succeeded) {
  BuildStatus b;
  b.id = "b1";
  b.spec = testing::valid_spec("users/alice", "env");
  b.succeeded = succeeded;
  for (const char* name : {"concretize", "build", "module"}) {
    flow::StageStatus st;
    st.name = name;
    st.state = succeeded ? JobState::completed : JobState::failed;
    b.stages.push_back(st);
  }
  return b;
}

flow::PublishOutcome failure(const std::string& name, ErrorKind kind, SystemTime when) {
  return {name, make_error(kind, "down"), when};
}

const auto no_jitter = [](std::chrono::milliseconds) { return 0ms; };

} // namespace

TEST_CASE("publishing: a build's destinations", "[publishing]") {
  FakePublisher image("image", false), record("files");
  Publishing p({&image, &record}, {});
  auto ok = ended_build(true);
  p.list_destinations(ok);
  REQUIRE(ok.destinations.size() == 2);
  CHECK(ok.destinations[0].name == "image");
  auto failed = ended_build(false);
  p.list_destinations(failed);
  // An image destination has nothing to publish for a failed build.
  REQUIRE(failed.destinations.size() == 1);
  CHECK(failed.destinations[0].name == "files");

  SECTION("pending destinations no longer configured are dropped, done ones kept") {
    auto b = ended_build(true);
    b.destinations.resize(2);
    b.destinations[0].name = "gone";
    b.destinations[1].name = "old";
    b.destinations[1].state = DestinationState::published;
    p.list_destinations(b);
    REQUIRE(b.destinations.size() == 1);
    CHECK(b.destinations[0].name == "old");
  }
}

TEST_CASE("publishing: outcomes, backoff and giving up", "[publishing]") {
  FakePublisher files("files");
  flow::PublishPolicy policy;
  policy.retry_initial = 10s;
  policy.retry_max = 40s;
  policy.give_up_after = 1h;
  Publishing p({&files}, policy);
  auto b = ended_build(true);
  p.list_destinations(b);
  const SystemTime t0 = from_unix_seconds(1'764'000'000);
  auto recorded = p.record(b, failure("files", ErrorKind::io, t0), no_jitter);
  auto* d = recorded.destination;
  REQUIRE(d);
  CHECK(recorded.what == Recorded::What::retrying);
  CHECK(d->attempts == 1);
  CHECK(d->next_attempt == t0 + 10s);
  CHECK(d->first_failure == t0);
  CHECK_FALSE(p.settle(b).has_value()); // still pending

  d = p.record(b, failure("files", ErrorKind::io, t0 + 10s), no_jitter).destination;
  CHECK(d->next_attempt == t0 + 10s + 20s);
  // Jitter comes off the delay.
  d = p.record(b, failure("files", ErrorKind::io, t0 + 30s), [](std::chrono::milliseconds) {
         return 5s;
       }).destination;
  CHECK(d->next_attempt == t0 + 30s + 35s);
  CHECK(flow::backoff_delay(policy, 10) == 40s);

  SECTION("still failing after give_up_after: given up, and the build failed") {
    recorded = p.record(b, failure("files", ErrorKind::io, t0 + 1h), no_jitter);
    d = recorded.destination;
    CHECK(recorded.what == Recorded::What::given_up);
    CHECK(d->state == DestinationState::failed);
    CHECK(p.settle(b) == BuildState::failed);
    CHECK_THAT(b.error, Catch::Contains("publishing to files failed"));
  }
  SECTION("a refusal is given up at once") {
    recorded = p.record(b, failure("files", ErrorKind::invalid_input, t0 + 1min), no_jitter);
    CHECK(recorded.what == Recorded::What::given_up);
  }
  SECTION("a success after failures keeps the last error for the record") {
    recorded =
        p.record(b, {"files", artifacts::PublishResult{"files", "ref-9"}, t0 + 1min}, no_jitter);
    d = recorded.destination;
    CHECK(recorded.what == Recorded::What::published);
    CHECK(d->state == DestinationState::published);
    CHECK(d->reference == "ref-9");
    CHECK_FALSE(d->next_attempt.has_value());
    CHECK_THAT(d->error, Catch::Contains("down"));
    CHECK(p.settle(b) == BuildState::published);
    CHECK(b.published_reference == "ref-9");
  }
  CHECK(p.record(b, failure("nowhere", ErrorKind::io, t0), no_jitter).destination == nullptr);
}

TEST_CASE("publishing: what a build comes to", "[publishing]") {
  FakePublisher first("first");
  RecordPublisher record;
  FakePublisher last("last");
  Publishing p({&first, &record, &last}, {});
  auto publish_all = [&](BuildStatus& b) {
    for (auto& d : b.destinations) {
      d.state = DestinationState::published;
      d.reference = d.name + "-ref";
    }
  };
  SECTION("the record's reference is the build's, wherever it is in the order") {
    auto b = ended_build(true);
    p.list_destinations(b);
    publish_all(b);
    CHECK(p.settle(b) == BuildState::published);
    CHECK(b.published_reference == "record-ref");
  }
  SECTION("without a record, the last destination's") {
    Publishing plain({&first, &last}, {});
    auto b = ended_build(true);
    plain.list_destinations(b);
    publish_all(b);
    CHECK(plain.settle(b) == BuildState::published);
    CHECK(b.published_reference == "last-ref");
  }
  SECTION("a failed build is failed, a cancelled one cancelled") {
    auto b = ended_build(false);
    p.list_destinations(b);
    publish_all(b);
    CHECK(p.settle(b) == BuildState::failed);
    b.stages[0].state = JobState::cancelled;
    b.stages[0].reason = "cancelled by 1000";
    CHECK(p.settle(b) == BuildState::cancelled);
    b.stages[0].reason = "dependency never satisfied";
    CHECK(p.settle(b) == BuildState::failed);
    b.cancel_requested = true;
    CHECK(p.settle(b) == BuildState::cancelled);
  }
}

TEST_CASE("publishing: one attempt", "[publishing]") {
  testing::TempDir t;
  testing::ManualClock clock;
  FakePublisher first("first"), second("second"), third("third");
  Publishing p({&first, &second, &third}, {});
  flow::BuildPlan plan;
  plan.build_id = "b1";
  plan.build_dir = t / "build";
  std::filesystem::create_directories(plan.out_dir());
  auto b = ended_build(false);
  p.list_destinations(b);
  b.destinations[0].state = DestinationState::published; // done in an earlier attempt

  SECTION("the pending ones in order, stopping at the first failure") {
    second.fail_with("second is down");
    const auto outcomes = p.attempt(b, plan, clock);
    REQUIRE(outcomes.size() == 1);
    CHECK(outcomes[0].name == "second");
    CHECK_FALSE(outcomes[0].result);
    CHECK(first.call_count() == 0);
    CHECK(third.call_count() == 0);
    // builder.out was written first, once, and every destination saw it.
    REQUIRE(second.calls().front().builder_out.has_value());
    CHECK_THAT(*second.calls().front().builder_out, Catch::Contains("==> stage concretize"));
  }
  SECTION("a publisher that throws is that destination's error") {
    second.throw_for_environment("env");
    const auto outcomes = p.attempt(b, plan, clock);
    REQUIRE(outcomes.size() == 1);
    REQUIRE_FALSE(outcomes[0].result);
    CHECK(outcomes[0].result.error().kind == ErrorKind::internal);
    CHECK_THAT(outcomes[0].result.error().describe(),
               Catch::Contains("second") && Catch::Contains("unexpected exception"));
  }
  SECTION("all pending ones succeed") {
    const auto outcomes = p.attempt(b, plan, clock);
    REQUIRE(outcomes.size() == 2);
    CHECK(outcomes[0].result);
    CHECK(outcomes[1].result);
  }
}

TEST_CASE("publishing: builder.out's header block", "[publishing]") {
  testing::TempDir t;
  flow::BuildPlan plan;
  plan.build_id = "b1";
  plan.build_dir = t / "build";
  t.write("build/logs/concretize.out", "==> Error: cannot satisfy\n");
  auto header = [](const std::string& text) { return text.substr(0, text.find("\n\n")); };

  SECTION("a concretize-stage failure carries softpack-core's concretization phrase") {
    auto b = ended_build(false);
    b.stages[0].exit_code = 1;
    b.stages[0].reason = "exit code 1"; // as the local executor says it: not repeated
    b.stages[1].state = JobState::cancelled;
    b.stages[1].reason = "not submitted: a stage before it failed";
    b.stages[2].state = JobState::cancelled;
    b.error = "stage concretize failed";
    const std::string text = flow::compose_builder_out(b, plan, 4096);
    CHECK(header(text) == "softpack-builder build b1 of users/alice/env-1\n"
                          "build id: b1\n"
                          "environment: users/alice/env-1\n"
                          "outcome: failed\n"
                          "stages: concretize=failed build=cancelled module=cancelled\n"
                          "failed stage: concretize (failed, exit code 1)\n"
                          "error: stage concretize failed\n"
                          "concretization failed for the following reasons: see the concretize "
                          "stage's log below");
    CHECK_THAT(text, Catch::Contains("==> stage concretize: failed, exit code 1\n"
                                     "==> Error: cannot satisfy\n"));
  }
  SECTION("a build-stage failure does not, whatever its log says") {
    auto b = ended_build(false);
    b.stages[0].state = JobState::completed;
    const std::string text = flow::compose_builder_out(b, plan, 4096);
    CHECK_THAT(header(text), Catch::Contains("failed stage: build (failed)"));
    CHECK_THAT(header(text), !Catch::Contains(std::string(flow::k_concretization_failed)));
  }
  SECTION("a success and a cancellation name their outcome and no failed stage") {
    auto ok = ended_build(true);
    CHECK_THAT(header(flow::compose_builder_out(ok, plan, 4096)),
               Catch::Contains("outcome: succeeded\n") && !Catch::Contains("failed stage"));
    auto cancelled = ended_build(false);
    cancelled.cancel_requested = true;
    cancelled.stages[0].state = JobState::cancelled;
    const std::string text = flow::compose_builder_out(cancelled, plan, 4096);
    CHECK_THAT(header(text), Catch::Contains("outcome: cancelled\n") &&
                                 !Catch::Contains(std::string(flow::k_concretization_failed)));
  }
  SECTION("who asked, after the environment; no line when not known") {
    auto b = ended_build(true);
    CHECK_THAT(header(flow::compose_builder_out(b, plan, 4096)), !Catch::Contains("requested by"));
    b.requested_by = {auth::Requester::Kind::user, "alice", 1001};
    CHECK_THAT(header(flow::compose_builder_out(b, plan, 4096)),
               Catch::Contains("environment: users/alice/env-1\n"
                               "requested by: alice (uid 1001)\n"
                               "outcome: succeeded\n"));
    b.requested_by = {auth::Requester::Kind::token, "ci", std::nullopt};
    CHECK_THAT(header(flow::compose_builder_out(b, plan, 4096)),
               Catch::Contains("\nrequested by: token ci\n"));
    b.requested_by = {auth::Requester::Kind::webhook, "bob\nerror: forged", std::nullopt};
    CHECK_THAT(header(flow::compose_builder_out(b, plan, 4096)),
               Catch::Contains("\nrequested by: webhook bob\\x0Aerror: forged\n") &&
                   !Catch::Contains("\nerror: forged"));
  }
}
