#pragma once

// Publishing a build whose jobs have all ended: which destinations it goes to, one attempt at
// the pending ones (on a worker thread), what each outcome does to its destination (retry with
// backoff, or give up), and what the build has come to once none is pending. The engine keeps
// the timers and the journal; everything here is a plain step on a BuildStatus.
//
// Destinations are published in order, stopping at the first failure, so that the record (git,
// core) never names an image or module that is not there. Every Publisher is idempotent, so an
// attempt whose answer was lost is harmless, and builder.out is written once so that every
// attempt publishes the same bytes.

#include "artifacts/publisher.hpp"
#include "flow/build_status.hpp"
#include "flow/plan.hpp"
#include "util/time.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace softpack::flow {

struct PublishPolicy {
  // The delay after a failure doubles from retry_initial to retry_max (the caller takes up to
  // 20% off as jitter); a destination failing for give_up_after since its first failure is
  // given up (0 = never).
  std::chrono::milliseconds retry_initial{std::chrono::seconds(30)};
  std::chrono::milliseconds retry_max{std::chrono::minutes(10)};
  std::chrono::milliseconds give_up_after{std::chrono::hours(24 * 7)};
  // Of each stage's log, in builder.out.
  std::size_t log_tail_bytes = 64 * 1024;
};

// The delay before attempt `attempts + 1` of a destination that has failed `attempts` times
// (>= 1), without jitter.
std::chrono::milliseconds backoff_delay(const PublishPolicy& policy, int attempts);

// What softpack-core looks for in builder.out to mark a failure as a concretization failure.
inline constexpr std::string_view k_concretization_failed =
    "concretization failed for the following reasons:";

// How a build whose jobs have all ended came out: "succeeded", "failed" or "cancelled" (its
// first stage that did not complete was cancelled by someone, or the build was).
std::string_view build_outcome(const BuildStatus& build);

// builder.out: a header block (build id, environment, outcome, each stage's state, the failed
// stage, the error; and k_concretization_failed when the concretize stage failed), then every
// stage's state and the tail of its log, so a failed build explains itself in softpack-core.
// Reads the logs (may block).
std::string compose_builder_out(const BuildStatus& status, const BuildPlan& plan,
                                std::size_t tail_bytes);

// One destination's outcome in a publish attempt.
struct PublishOutcome {
  std::string name;
  Expected<artifacts::PublishResult> result;
  SystemTime when;
};

// What recording an outcome did.
struct Recorded {
  enum class What { published, retrying, given_up };
  DestinationStatus* destination = nullptr; // nullptr: the build has no such destination
  What what = What::published;
};

class Publishing {
public:
  // `publishers`: the configured destinations, in publishing order (names unique).
  Publishing(std::vector<artifacts::Publisher*> publishers, PublishPolicy policy);

  const PublishPolicy& policy() const { return m_policy; }
  artifacts::Publisher* publisher_named(const std::string& name) const;

  // Lists the build's destinations when it has none yet (the configured ones that take its
  // outcome: image destinations take successes only), and drops pending ones no longer
  // configured (the configuration changed across a restart; each is logged).
  void list_destinations(BuildStatus& build) const;

  // One attempt: writes builder.out (once) and the success marker, then publishes to the
  // pending destinations in order, stopping at the first failure. Runs on a worker thread, on
  // a snapshot of the build. A publisher that throws counts as that destination failing (an
  // internal error, retried like any other).
  std::vector<PublishOutcome> attempt(const BuildStatus& snapshot, const BuildPlan& plan,
                                      const Clock& clock) const;

  // Records an outcome on its destination: attempts, error, reference, and the next attempt
  // (backoff less `jitter(delay)`) or giving up.
  Recorded record(BuildStatus& build, const PublishOutcome& outcome,
                  const std::function<std::chrono::milliseconds(std::chrono::milliseconds delay)>&
                      jitter) const;

  // What the build has come to when no attempt is in flight: a final state (with its error and
  // published reference set) once every destination is published or one is given up, else
  // nullopt (a destination is pending; its next attempt is in the status).
  std::optional<BuildState> settle(BuildStatus& build) const;

private:
  std::vector<artifacts::Publisher*> m_publishers;
  PublishPolicy m_policy;
};

} // namespace softpack::flow
