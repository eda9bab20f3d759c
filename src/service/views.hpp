#pragma once

// What the HTTP API and /metrics show of the builds: JSON documents and Prometheus text rendered
// from plain values. Nothing here changes a build; only build_json reads files (log tails).

#include "flow/build_status.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace softpack::service {

// When a build's jobs had all ended (the last stage's end), once they have; go-softpack-builder's
// BuildDone, which it sets when its job ends, before uploading. Publishing may still go on.
std::optional<SystemTime> jobs_done(const flow::BuildStatus& build);

// go-softpack-builder's GET /environments/status array, as softpack-core reads it (queued: no
// BuildStart; building: BuildStart, no BuildDone; the mean of BuildDone - BuildStart over the
// list): one entry per environment and version, its latest build, in the order of their
// requests; Name, Requested, BuildStart, BuildDone (jobs_done). Bounded: every environment whose
// latest build is unfinished, and the `max_finished` newest others.
inline constexpr std::size_t k_status_max_finished = 1000;
std::string environments_status_json(const std::vector<const flow::BuildStatus*>& builds,
                                     std::size_t max_finished = k_status_max_finished);
// GET /builds: every build given, without log tails.
std::string builds_json(const std::vector<const flow::BuildStatus*>& builds);
// GET /builds/{id}: stages, job ids, states, reasons, times, destinations, and with `with_logs`
// the last lines of each stage's log.
std::string build_json(const flow::BuildStatus& build, bool with_logs);

struct MetricsInput {
  std::vector<const flow::BuildStatus*> builds;
  std::vector<std::string> destinations; // configured, in order (a line each, even when 0)
  std::string scheduler;                 // its name
  std::size_t poll_calls = 0;
  double poll_age_seconds = 0;   // since the scheduler last answered, while jobs are followed
  std::string scheduler_metrics; // the backend's own lines (Scheduler::metrics)
  std::size_t deliveries = 0, duplicate_deliveries = 0;
  // Deliveries whose repository could not be read (left for a redelivery).
  std::size_t failed_deliveries = 0;
  bool store_healthy = true;
};
// /metrics in Prometheus' text format.
std::string metrics_text(const MetricsInput& input);

} // namespace softpack::service
