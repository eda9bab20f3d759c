#include "service/views.hpp"

#include "util/fs.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <map>

#include <boost/json.hpp>

namespace softpack::service {

namespace json = boost::json;
using flow::BuildState;
using flow::BuildStatus;

namespace {

json::value time_json(const std::optional<SystemTime>& t) {
  return t ? json::value(format_rfc3339(*t)) : json::value(nullptr);
}

// {"kind": "user", "name": "alice", "uid": 1001}; null when not known.
json::value requester_json(const auth::Requester& who) {
  if (who.kind == auth::Requester::Kind::none) {
    return nullptr;
  }
  json::object o;
  o["kind"] = std::string(auth::kind_name(who.kind));
  o["name"] = who.name;
  o["uid"] = who.uid ? json::value(*who.uid) : json::value(nullptr);
  return o;
}

json::object build_object(const BuildStatus& b, bool with_logs) {
  json::object o;
  o["id"] = b.id;
  o["name"] = b.spec->full_name();
  o["state"] = std::string(flow::to_string(b.state));
  o["error"] = b.error;
  o["requested"] = format_rfc3339(b.requested);
  o["started"] = time_json(b.started);
  o["done"] = time_json(b.done);
  o["published"] = b.published_reference;
  o["cancel_requested"] = b.cancel_requested;
  o["requested_by"] = requester_json(b.requested_by);
  o["queue_reason"] = b.queue_reason;
  json::array stages;
  for (const auto& st : b.stages) {
    json::object s;
    s["name"] = st.name;
    s["job_name"] = st.job_name;
    s["job_id"] = st.job_id ? json::value(st.job_id->value) : json::value(nullptr);
    s["state"] = st.submitting ? "submitting" : std::string(scheduler::to_string(st.state));
    s["reason"] = st.reason;
    s["exit_code"] = st.exit_code ? json::value(*st.exit_code) : json::value(nullptr);
    s["submitted"] = time_json(st.submitted);
    s["started"] = time_json(st.started);
    s["ended"] = time_json(st.ended);
    if (with_logs) {
      s["log_tail"] = tail_lines(read_tail(b.build_dir / "logs" / (st.name + ".out"), 8192), 40);
    }
    stages.emplace_back(std::move(s));
  }
  o["stages"] = std::move(stages);
  json::array destinations;
  for (const auto& d : b.destinations) {
    json::object j;
    j["name"] = d.name;
    j["state"] = std::string(flow::to_string(d.state));
    j["attempts"] = d.attempts;
    j["error"] = d.error;
    j["reference"] = d.reference;
    j["last_attempt"] = time_json(d.last_attempt);
    j["next_attempt"] = time_json(d.next_attempt);
    destinations.emplace_back(std::move(j));
  }
  o["destinations"] = std::move(destinations);
  return o;
}
} // namespace

namespace {
// Whether the build's jobs have all ended: it is publishing, or final.
bool jobs_ended(const BuildStatus& b) {
  return b.state == BuildState::publishing || flow::is_final(b.state);
}
} // namespace

std::optional<SystemTime> jobs_done(const BuildStatus& b) {
  if (!jobs_ended(b)) {
    return std::nullopt;
  }
  std::optional<SystemTime> last;
  for (const auto& st : b.stages) {
    if (st.ended && (!last || *st.ended > *last)) {
      last = st.ended;
    }
  }
  // No stage ended with a time (never submitted, cancelled while queued): the build's end, or,
  // while it publishes, its start, so that softpack-core does not show it as building.
  if (last) {
    return last;
  }
  return b.done ? b.done : std::optional<SystemTime>(b.started.value_or(b.requested));
}

std::string environments_status_json(const std::vector<const BuildStatus*>& builds,
                                     std::size_t max_finished) {
  // The latest build of each environment, in the order of those builds' requests.
  std::map<std::string, std::size_t> latest; // full name -> index into builds
  for (std::size_t i = 0; i < builds.size(); ++i) {
    latest[builds[i]->spec->full_name()] = i;
  }
  std::vector<std::size_t> kept;
  kept.reserve(latest.size());
  for (const auto& [name, i] : latest) {
    kept.push_back(i);
  }
  std::sort(kept.begin(), kept.end());
  // Bounded: every environment whose latest build is unfinished, and the newest max_finished
  // of the others.
  std::size_t finished = 0;
  for (auto it = kept.rbegin(); it != kept.rend(); ++it) {
    if (flow::is_final(builds[*it]->state) && ++finished > max_finished) {
      *it = builds.size(); // dropped
    }
  }
  json::array a;
  a.reserve(kept.size());
  for (std::size_t i : kept) {
    if (i == builds.size()) {
      continue;
    }
    const BuildStatus* b = builds[i];
    json::object o;
    o["Name"] = b->spec->full_name();
    o["Requested"] = format_rfc3339(b->requested);
    // A build that ended without starting (cancelled while queued, its submission failed) has
    // its request time as its start: softpack-core would otherwise list it as queued for good.
    o["BuildStart"] =
        time_json(jobs_ended(*b) && !b->started ? std::optional(b->requested) : b->started);
    o["BuildDone"] = time_json(jobs_done(*b));
    a.emplace_back(std::move(o));
  }
  return json::serialize(a);
}

std::string builds_json(const std::vector<const BuildStatus*>& builds) {
  json::array a;
  a.reserve(builds.size());
  for (const auto* b : builds) {
    a.emplace_back(build_object(*b, false));
  }
  return json::serialize(a);
}

std::string build_json(const BuildStatus& build, bool with_logs) {
  return json::serialize(build_object(build, with_logs));
}

std::string metrics_text(const MetricsInput& in) {
  std::map<std::string, std::size_t> by_state;
  for (auto st :
       {BuildState::queued, BuildState::submitting, BuildState::running, BuildState::publishing,
        BuildState::published, BuildState::failed, BuildState::cancelled}) {
    by_state[std::string(flow::to_string(st))] = 0;
  }
  std::map<std::string, std::pair<double, std::size_t>> durations;
  // Destinations of builds still publishing that have failed at least once: what an admin
  // should look at when a destination is down.
  std::map<std::string, std::size_t> retrying;
  for (const auto& name : in.destinations) {
    retrying[name] = 0;
  }
  for (const auto* bp : in.builds) {
    const flow::BuildStatus& b = *bp;
    ++by_state[std::string(flow::to_string(b.state))];
    for (const auto& d : b.destinations) {
      if (d.state == flow::DestinationState::pending && d.attempts > 0) {
        ++retrying[d.name];
      }
    }
    for (const auto& st : b.stages) {
      if (st.started && st.ended) {
        auto& d = durations[st.name];
        d.first += std::chrono::duration<double>(*st.ended - *st.started).count();
        ++d.second;
      }
    }
  }
  std::string out = "# HELP softpack_builds Builds known to the service, by state.\n"
                    "# TYPE softpack_builds gauge\n";
  for (const auto& [state, n] : by_state) {
    out += "softpack_builds{state=\"" + state + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP softpack_stage_duration_seconds Run time of finished stage jobs.\n"
         "# TYPE softpack_stage_duration_seconds summary\n";
  for (const auto& [stage, d] : durations) {
    out += "softpack_stage_duration_seconds_sum{stage=\"" + stage + "\"} " +
           std::to_string(d.first) + "\n";
    out += "softpack_stage_duration_seconds_count{stage=\"" + stage + "\"} " +
           std::to_string(d.second) + "\n";
  }
  out += "# HELP softpack_publish_retrying Builds whose publishing to a destination failed and "
         "is waiting to be tried again.\n# TYPE softpack_publish_retrying gauge\n";
  for (const auto& [name, n] : retrying) {
    out += "softpack_publish_retrying{destination=\"" + name + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP softpack_scheduler_polls_total Scheduler poll calls (one per interval for all "
         "builds).\n# TYPE softpack_scheduler_polls_total counter\n";
  out += "softpack_scheduler_polls_total{scheduler=\"" + in.scheduler + "\"} " +
         std::to_string(in.poll_calls) + "\n";
  out += "# HELP softpack_scheduler_poll_age_seconds Seconds since the scheduler last answered a "
         "poll, while jobs are followed (0 otherwise); far above poll_interval means polls lag "
         "or fail.\n# TYPE softpack_scheduler_poll_age_seconds gauge\n";
  out += "softpack_scheduler_poll_age_seconds " + std::to_string(in.poll_age_seconds) + "\n";
  out += in.scheduler_metrics;
  out += "# HELP softpack_webhook_deliveries_total GitLab deliveries received, duplicates, and "
         "failures (the repository could not be read; a redelivery retries).\n"
         "# TYPE softpack_webhook_deliveries_total counter\n";
  out += "softpack_webhook_deliveries_total " + std::to_string(in.deliveries) + "\n";
  out += "softpack_webhook_duplicate_deliveries_total " + std::to_string(in.duplicate_deliveries) +
         "\n";
  out += "softpack_webhook_failed_deliveries_total " + std::to_string(in.failed_deliveries) + "\n";
  out += "# HELP softpack_store_healthy 1 when the last write to the store succeeded.\n"
         "# TYPE softpack_store_healthy gauge\n";
  out += "softpack_store_healthy " + std::string(in.store_healthy ? "1" : "0") + "\n";
  return out;
}

} // namespace softpack::service
