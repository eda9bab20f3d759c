#include "flow/publishing.hpp"

#include "util/fs.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <exception>

#include <spdlog/spdlog.h>

namespace softpack::flow {

using scheduler::JobState;

std::chrono::milliseconds backoff_delay(const PublishPolicy& policy, int attempts) {
  auto delay = policy.retry_initial;
  for (int i = 1; i < attempts && delay < policy.retry_max; ++i) {
    delay *= 2;
  }
  return std::min(delay, policy.retry_max);
}

namespace {

// A build whose first stage that did not complete was cancelled (someone ran scancel/bkill on
// it) ended because of a cancellation, not a failure.
bool first_unfinished_was_cancelled(const BuildStatus& b) {
  for (const auto& st : b.stages) {
    if (st.state != JobState::completed) {
      return st.state == JobState::cancelled && st.reason.find("dependency") == std::string::npos;
    }
  }
  return false;
}

// "failed, exit code 2, NonZeroExitCode" for a stage's line.
std::string stage_outcome(const StageStatus& st) {
  std::string out(scheduler::to_string(st.state));
  std::string code;
  if (meaningful_exit_code(st)) {
    code = "exit code " + std::to_string(*st.exit_code);
    out += ", " + code;
  }
  // The local executor's (and a result file's) reason is the exit code itself: said once.
  if (!st.reason.empty() && st.reason != code) {
    out += ", " + st.reason;
  }
  return out;
}

} // namespace

std::string_view build_outcome(const BuildStatus& b) {
  if (b.succeeded) {
    return "succeeded";
  }
  return b.cancel_requested || first_unfinished_was_cancelled(b) ? "cancelled" : "failed";
}

std::string compose_builder_out(const BuildStatus& status, const BuildPlan& plan,
                                std::size_t tail_bytes) {
  // The header block (docs/operations.md, "builder.out"): one "key: value" line each, then a
  // blank line. softpack-core reads a concretization failure from the phrase below.
  const StageStatus* failed = nullptr;
  for (const auto& st : status.stages) {
    if (st.state != JobState::completed) {
      failed = &st;
      break;
    }
  }
  const std::string_view outcome = build_outcome(status);
  std::string out;
  out += "softpack-builder build " + status.id + " of " + status.spec->full_name() + "\n";
  out += "build id: " + status.id + "\n";
  out += "environment: " + status.spec->full_name() + "\n";
  if (const std::string who = status.requested_by.describe(); !who.empty()) {
    out += "requested by: " + who + "\n";
  }
  out += "outcome: " + std::string(outcome) + "\n";
  out += "stages:";
  for (const auto& st : status.stages) {
    out += " " + st.name + "=" + std::string(scheduler::to_string(st.state));
  }
  out += "\n";
  if (failed && outcome == "failed") {
    out += "failed stage: " + failed->name + " (" + stage_outcome(*failed) + ")\n";
  }
  if (!status.error.empty()) {
    out += "error: " + status.error + "\n";
  }
  if (!plan.spack_repo_url.empty()) {
    // The git package repository's commit, as the concretize stage resolved it.
    const std::string commit = read_tail(plan.spack_repo_commit(), 64);
    out += "spack repo: " + plan.spack_repo_url + " at " +
           (commit.empty() ? std::string("(not resolved)") : std::string(trim(commit))) + "\n";
  }
  // The service restarted while the build ran on a scheduler whose jobs end with it.
  const std::string restarts = read_tail(plan.restarts_log(), tail_bytes);
  for (auto line : split_lines(restarts)) {
    if (!line.empty()) {
      out += "restarted: " + std::string(line) + "\n";
    }
  }
  if (failed && outcome == "failed" && failed->name == k_concretize_stage) {
    // softpack-core marks the environment's failure_reason "concretization" when builder.out
    // holds this phrase. Spack's clingo concretizer prints it, its original one never does, so
    // the builder writes it itself for every failure of the concretize stage.
    out += std::string(k_concretization_failed) + " see the concretize stage's log below\n";
  }
  for (const auto& st : status.stages) {
    out += "\n==> stage " + st.name;
    if (st.job_id) {
      out += " (job " + st.job_id->value + ")";
    }
    out += ": " + stage_outcome(st) + "\n";
    const auto log = plan.log_path(st.name);
    std::string text = read_tail(log, tail_bytes);
    if (std::filesystem::exists(log) && std::filesystem::file_size(log) > tail_bytes) {
      out += "[... log truncated; first " +
             std::to_string(std::filesystem::file_size(log) - tail_bytes) + " bytes omitted]\n";
    }
    out += text;
    if (!text.empty() && text.back() != '\n') {
      out += "\n";
    }
  }
  return out;
}

namespace {

// Runs one publisher, turning an exception (a bug in it) into an error of this destination.
Expected<artifacts::PublishResult> publish_guarded(artifacts::Publisher& publisher,
                                                   const artifacts::PublishRequest& request) {
  try {
    return publisher.publish(request);
  } catch (const std::exception& e) {
    return make_error(ErrorKind::internal, std::string("unexpected exception: ") + e.what(),
                      publisher.name());
  } catch (...) {
    return make_error(ErrorKind::internal, "unexpected exception", publisher.name());
  }
}

} // namespace

Publishing::Publishing(std::vector<artifacts::Publisher*> publishers, PublishPolicy policy)
    : m_publishers(std::move(publishers)), m_policy(policy) {}

artifacts::Publisher* Publishing::publisher_named(const std::string& name) const {
  for (auto* p : m_publishers) {
    if (p->name() == name) {
      return p;
    }
  }
  return nullptr;
}

void Publishing::list_destinations(BuildStatus& b) const {
  if (b.destinations.empty()) { // not when resuming: the outcomes so far are kept
    for (const auto* p : m_publishers) {
      if (b.succeeded || p->publishes_failures()) {
        DestinationStatus d;
        d.name = p->name();
        b.destinations.push_back(std::move(d));
      }
    }
  }
  // Destinations no longer configured (the configuration changed across a restart) are
  // dropped: the site chose not to publish there any more.
  std::erase_if(b.destinations, [this, &b](const DestinationStatus& d) {
    if (d.state != DestinationState::pending || publisher_named(d.name)) {
      return false;
    }
    spdlog::warn("build {}: destination {} is no longer configured; not publishing there", b.id,
                 d.name);
    return true;
  });
}

std::vector<PublishOutcome> Publishing::attempt(const BuildStatus& snapshot, const BuildPlan& plan,
                                                const Clock& clock) const {
  artifacts::PublishRequest req;
  req.spec = snapshot.spec;
  req.build_id = snapshot.id;
  req.success = snapshot.succeeded;
  req.out_dir = plan.out_dir();
  std::vector<PublishOutcome> outcomes;
  // builder.out is written once: every attempt then publishes the same bytes, so a destination
  // that did get them (an unanswered push) sees no change.
  const auto builder_out_path = req.out_dir / "builder.out";
  Expected<void> prepared;
  if (!std::filesystem::exists(builder_out_path)) {
    prepared = write_file_atomic(builder_out_path,
                                 compose_builder_out(snapshot, plan, m_policy.log_tail_bytes));
  }
  if (prepared && req.success) {
    prepared = write_file_atomic(req.out_dir / ".built_by_softpack", req.build_id + "\n");
  }
  for (const auto& d : snapshot.destinations) {
    if (d.state != DestinationState::pending) {
      continue;
    }
    artifacts::Publisher* publisher = publisher_named(d.name);
    Expected<artifacts::PublishResult> r =
        !prepared   ? Expected<artifacts::PublishResult>(prepared.error())
        : publisher ? publish_guarded(*publisher, req)
                    : Expected<artifacts::PublishResult>(make_error(
                          ErrorKind::internal, "destination " + d.name + " is not configured"));
    const bool ok = r.has_value();
    outcomes.push_back(PublishOutcome{d.name, std::move(r), clock.now()});
    if (!ok) {
      break;
    }
  }
  return outcomes;
}

Recorded Publishing::record(
    BuildStatus& b, const PublishOutcome& o,
    const std::function<std::chrono::milliseconds(std::chrono::milliseconds)>& jitter) const {
  auto it = std::find_if(b.destinations.begin(), b.destinations.end(),
                         [&](const DestinationStatus& d) { return d.name == o.name; });
  if (it == b.destinations.end()) {
    return {};
  }
  DestinationStatus& d = *it;
  d.attempts += 1;
  d.last_attempt = o.when;
  d.next_attempt.reset();
  if (o.result) {
    d.state = DestinationState::published;
    d.reference = o.result->reference;
    return {&d, Recorded::What::published};
  }
  d.error = o.result.error().describe();
  if (!d.first_failure) {
    d.first_failure = o.when;
  }
  const bool refused = o.result.error().kind == ErrorKind::invalid_input;
  const bool too_long =
      m_policy.give_up_after.count() > 0 && o.when - *d.first_failure >= m_policy.give_up_after;
  if (refused || too_long) {
    d.state = DestinationState::failed;
    return {&d, Recorded::What::given_up};
  }
  auto delay = backoff_delay(m_policy, d.attempts);
  d.next_attempt = o.when + (delay - jitter(delay));
  return {&d, Recorded::What::retrying};
}

std::optional<BuildState> Publishing::settle(BuildStatus& b) const {
  const auto& ds = b.destinations;
  auto given_up = std::find_if(ds.begin(), ds.end(), [](const DestinationStatus& d) {
    return d.state == DestinationState::failed;
  });
  if (given_up != ds.end()) {
    b.error = (b.error.empty() ? "" : b.error + "; ") + "publishing to " + given_up->name +
              " failed: " + given_up->error;
    return BuildState::failed;
  }
  if (std::any_of(ds.begin(), ds.end(), [](const DestinationStatus& d) {
        return d.state == DestinationState::pending;
      })) {
    return std::nullopt;
  }
  // The record's reference (the artifacts commit) when a destination makes one, else the last
  // destination's.
  b.published_reference = ds.empty() ? std::string() : ds.back().reference;
  for (const auto& d : ds) {
    if (const auto* p = publisher_named(d.name); p && p->reference_is_record()) {
      b.published_reference = d.reference;
      break;
    }
  }
  const std::string_view outcome = build_outcome(b);
  return outcome == "succeeded"   ? BuildState::published
         : outcome == "cancelled" ? BuildState::cancelled
                                  : BuildState::failed;
}

} // namespace softpack::flow
