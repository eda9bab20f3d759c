#pragma once

// The flow runner: takes build plans, submits every stage up front, one after the other, each
// chained to the previous with "after ok" dependencies (so the jobs are futures), follows all jobs
// of all builds with ONE scheduler poll per interval, cancels the rest of a build when a stage
// fails, and publishes the outcome (builder.out alone on failure) once every job of the build has
// ended: to each configured destination in order, recording each one's outcome, retrying
// failures with backoff (across restarts: the outcomes are in the journal) until all succeeded
// or one is given up.
//
// The steps are in units of their own: what a poll answer does to a stage is
// flow/poll_outcome (pure), publishing is flow/publishing; the engine keeps the builds, the
// timers and the order of things.
//
// Threading: all public functions are called on the io_context's thread. Scheduler and
// publisher calls (which run commands and may block) go to an internal worker pool; their
// results come back to the io_context. An exception thrown on the pool is caught there and
// logged: in a task for one build (a submission, a publish attempt) it becomes that build's
// error; in a task for several (a poll, the result-file watch) it counts as a failed poll and
// is retried; a cancel that throws is retried like a refused one.

#include "artifacts/publisher.hpp"
#include "flow/build_status.hpp"
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
