#pragma once

// The flow runner: takes build plans, submits every stage up front, one after the other, each
// chained to the previous with "after ok" dependencies (so the jobs are futures), follows all jobs
// of all builds with ONE scheduler poll per interval, cancels the rest of a build when a stage
// fails, and publishes the outcome (builder.out alone on failure) once every job of the build has
// ended: to each configured destination in order, recording each one's outcome, retrying
// failures with backoff (across restarts: the outcomes are in the journal) until all succeeded
// or one is given up.
//
// Threading: all public functions are called on the io_context's thread. Scheduler and
// publisher calls (which run commands and may block) go to an internal worker pool; their
// results come back to the io_context.

#include "artifacts/publisher.hpp"
#include "flow/plan.hpp"
#include "scheduler/scheduler.hpp"
#include "util/time.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace softpack::flow {

enum class BuildState {
  queued,     // accepted, not yet submitted
  submitting, // jobs being submitted
  running,    // all jobs submitted, some not ended
  publishing, // all jobs ended, artifacts being published
  published,  // succeeded and published
  failed,     // a stage failed (builder.out published) or the build could not run
  cancelled,  // cancelled by request (builder.out published)
};

std::string_view to_string(BuildState state);
bool is_final(BuildState state);

struct StageStatus {
  std::string name;
  std::string job_name;
  std::optional<scheduler::JobId> job_id;
  scheduler::JobState state = scheduler::JobState::pending;
  std::string reason;
  std::optional<int> exit_code;
  std::optional<SystemTime> submitted;
  std::optional<SystemTime> started;
  std::optional<SystemTime> ended;
  std::optional<SystemTime> missing_since; // the scheduler stopped knowing the job
  bool submitting = false; // the scheduler has been asked; the job id is not known yet
};

enum class DestinationState {
  pending,   // not yet published (or failed and waiting for the next attempt)
  published, // done
  failed,    // given up: refused for good, or still failing after give_up_after
};

std::string_view to_string(DestinationState state);
std::optional<DestinationState> destination_state_from_string(std::string_view text);

// One publish destination of a build (Publisher::name()).
struct DestinationStatus {
  std::string name;
  DestinationState state = DestinationState::pending;
  int attempts = 0;
  std::string error;     // the last failure; kept after a later success, for the record
  std::string reference; // what the destination made (commit, digest, path)
  std::optional<SystemTime> first_failure;
  std::optional<SystemTime> last_attempt;
  std::optional<SystemTime> next_attempt; // while pending after a failure
  bool operator==(const DestinationStatus&) const = default;
};

struct BuildStatus {
  std::string id;
  spec::EnvironmentSpec spec;
  std::filesystem::path build_dir;
  BuildState state = BuildState::queued;
  std::string error; // why it failed: "stage build failed: exit code 1", or a publish error
  SystemTime requested{};
  std::optional<SystemTime> started; // first job started
  std::optional<SystemTime> done;    // final state reached
  std::vector<StageStatus> stages;
  bool succeeded = false; // all stages completed
  bool cancel_requested = false;
  // What publishing made: the reference of the destination that keeps the build's record (the
  // artifacts commit; Publisher::reference_is_record), else the last destination's.
  std::string published_reference;
  // The publish destinations, in publishing order, once the build's jobs have all ended.
  std::vector<DestinationStatus> destinations;
};

struct EngineOptions {
  std::chrono::milliseconds poll_interval{std::chrono::seconds(30)};
  std::chrono::milliseconds min_poll_interval{std::chrono::seconds(1)};
  std::chrono::seconds lost_grace{120};
  std::size_t log_tail_bytes = 64 * 1024; // per stage, in failure messages and builder.out
  // How often to look for new result files between polls (0 = never): a stage's end is then
  // noticed without waiting for the backed-off poll interval, at no cost to the scheduler.
  std::chrono::milliseconds result_watch_interval{250};
  // Publishing retries: the delay doubles from retry_initial to retry_max (with up to 20%
  // jitter); a destination failing for give_up_after since its first failure is given up
  // (0 = never).
  std::chrono::milliseconds publish_retry_initial{std::chrono::seconds(30)};
  std::chrono::milliseconds publish_retry_max{std::chrono::minutes(10)};
  std::chrono::milliseconds publish_give_up_after{std::chrono::hours(24 * 7)};
};

// The delay before attempt `attempts + 1` of a destination that has failed `attempts` times
// (>= 1), without jitter.
std::chrono::milliseconds publish_backoff(const EngineOptions& options, int attempts);

// The engine's settings from the site configuration (scheduler.poll_interval and friends).
EngineOptions engine_options(const config::Config& config);

class BuildObserver {
public:
  virtual ~BuildObserver() = default;
  virtual void on_stage_changed(const BuildStatus& build, const StageStatus& stage) = 0;
  virtual void on_build_changed(const BuildStatus& build) = 0;
  virtual void on_destination_changed(const BuildStatus& /*build*/,
                                      const DestinationStatus& /*destination*/) {}
};

// Where the engine writes every change of a build, before acting on it further (the service's
// durable store). A failing save is logged; the build goes on.
class BuildJournal {
public:
  virtual ~BuildJournal() = default;
  virtual Expected<void> save(const BuildStatus& build) = 0;
};

class FlowEngine {
public:
  // `publishers`: the destinations, in publishing order (names unique).
  FlowEngine(boost::asio::io_context& io, scheduler::Scheduler& scheduler,
             std::vector<artifacts::Publisher*> publishers, EngineOptions options,
             const Clock& clock);
  FlowEngine(boost::asio::io_context& io, scheduler::Scheduler& scheduler,
             artifacts::Publisher& publisher, EngineOptions options, const Clock& clock);
  ~FlowEngine();
  FlowEngine(const FlowEngine&) = delete;
  FlowEngine& operator=(const FlowEngine&) = delete;

  void set_observer(BuildObserver* observer);
  void set_journal(BuildJournal* journal);
  // Starts a build whose directory write_plan() has written. Returns its id.
  std::string start(BuildPlan plan);
  // Takes over a build from an earlier run of the service (its plan re-made from the spec):
  // stages with job ids are polled again; a stage that was being submitted is first looked up
  // by name (Scheduler::find_submitted) so it is never submitted twice; a build whose jobs all
  // ended is published to the destinations not yet done (publishing is idempotent).
  void resume(BuildPlan plan, BuildStatus status);
  // Cancels every job of the build that has not ended (one scheduler call).
  bool cancel(const std::string& build_id);
  const BuildStatus* find(const std::string& build_id) const;
  std::vector<const BuildStatus*> builds() const;
  // Builds not yet in a final state.
  std::size_t active() const;
  // Scheduler poll calls made so far (one per interval, whatever the number of builds).
  std::size_t poll_calls() const;
  // When the scheduler last answered a poll (nullopt: never).
  std::optional<SystemTime> last_successful_poll() const;
  // Whether any build has jobs being followed (so polls are expected).
  bool tracking_jobs() const;

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace softpack::flow
