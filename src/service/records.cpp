#include "service/records.hpp"

#include <cstdint>
#include <limits>

namespace softpack::service {

using flow::BuildState;
using flow::BuildStatus;
using flow::StageStatus;
using scheduler::JobState;

namespace {

std::optional<std::int64_t> secs(const std::optional<SystemTime>& t) {
  if (!t) {
    return std::nullopt;
  }
  return to_unix_seconds(*t);
}

std::optional<SystemTime> time_of(const std::optional<std::int64_t>& s) {
  if (!s) {
    return std::nullopt;
  }
  return from_unix_seconds(*s);
}

// A stored requester: a kind this version does not know (or "" in rows written before
// identities) reads as none, and a uid out of range as absent.
auth::Requester requester_of(const store::BuildRecord& r) {
  auth::Requester who;
  auto kind = auth::parse_kind(r.requester_kind);
  if (!kind || *kind == auth::Requester::Kind::none) {
    return who;
  }
  who.kind = *kind;
  who.name = r.requester_name;
  if (r.requester_uid && *r.requester_uid >= 0 &&
      *r.requester_uid <= std::numeric_limits<std::uint32_t>::max()) {
    who.uid = static_cast<std::uint32_t>(*r.requester_uid);
  }
  return who;
}

} // namespace

store::BuildRecord to_record(const BuildStatus& b, std::string_view scheduler_name) {
  store::BuildRecord r;
  r.id = b.id;
  r.env_path = b.spec->path;
  r.env_name = b.spec->name;
  r.env_version = b.spec->version;
  r.spec_json = b.spec.json();
  r.spec_hash = b.spec.hash();
  r.state = std::string(flow::to_string(b.state));
  r.error = b.error;
  r.build_dir = b.build_dir.string();
  r.published_ref = b.published_reference;
  r.cancel_requested = b.cancel_requested;
  r.requested = to_unix_seconds(b.requested);
  r.started = secs(b.started);
  r.done = secs(b.done);
  r.requester_kind = std::string(auth::kind_name(b.requested_by.kind));
  r.requester_name = b.requested_by.name;
  if (b.requested_by.uid) {
    r.requester_uid = static_cast<std::int64_t>(*b.requested_by.uid);
  }
  r.queue_reason = b.queue_reason;
  for (const auto& st : b.stages) {
    store::StageRecord s;
    s.name = st.name;
    s.job_name = st.job_name;
    s.job_id = st.job_id ? st.job_id->value : "";
    s.scheduler = std::string(scheduler_name);
    s.state = st.submitting ? "submitting" : std::string(scheduler::to_string(st.state));
    s.reason = st.reason;
    s.exit_code = st.exit_code;
    s.submitted = secs(st.submitted);
    s.started = secs(st.started);
    s.ended = secs(st.ended);
    r.stages.push_back(std::move(s));
  }
  for (const auto& d : b.destinations) {
    store::DestinationRecord dr;
    dr.name = d.name;
    dr.state = std::string(flow::to_string(d.state));
    dr.attempts = d.attempts;
    dr.error = d.error;
    dr.reference = d.reference;
    dr.first_failure = secs(d.first_failure);
    dr.last_attempt = secs(d.last_attempt);
    dr.next_attempt = secs(d.next_attempt);
    r.destinations.push_back(std::move(dr));
  }
  return r;
}

Expected<BuildStatus> from_record(const store::BuildRecord& r) {
  auto spec = spec::from_json(r.spec_json);
  if (!spec) {
    return spec.error().with_context("stored build " + r.id);
  }
  BuildStatus b;
  b.id = r.id;
  b.spec = *spec;
  auto state = flow::build_state_from_string(r.state);
  if (!state) {
    return make_error(ErrorKind::internal, "unknown state '" + r.state + "'",
                      "stored build " + r.id);
  }
  b.state = *state;
  b.error = r.error;
  b.build_dir = r.build_dir;
  b.published_reference = r.published_ref;
  b.cancel_requested = r.cancel_requested;
  b.requested = from_unix_seconds(r.requested);
  b.started = time_of(r.started);
  b.done = time_of(r.done);
  b.succeeded = b.state == BuildState::published;
  b.requested_by = requester_of(r);
  b.queue_reason = r.queue_reason;
  for (const auto& s : r.stages) {
    StageStatus st;
    st.name = s.name;
    st.job_name = s.job_name;
    if (!s.job_id.empty()) {
      st.job_id = scheduler::JobId{s.job_id};
    }
    if (s.state == "submitting") {
      st.submitting = true;
      st.state = JobState::pending;
    } else {
      st.state = scheduler::job_state_from_string(s.state).value_or(JobState::unknown);
    }
    st.reason = s.reason;
    st.exit_code = s.exit_code;
    st.submitted = time_of(s.submitted);
    st.started = time_of(s.started);
    st.ended = time_of(s.ended);
    b.stages.push_back(std::move(st));
  }
  for (const auto& dr : r.destinations) {
    flow::DestinationStatus d;
    d.name = dr.name;
    auto state = flow::destination_state_from_string(dr.state);
    if (!state) {
      return make_error(ErrorKind::internal, "unknown destination state '" + dr.state + "'",
                        "stored build " + r.id);
    }
    d.state = *state;
    d.attempts = dr.attempts;
    d.error = dr.error;
    d.reference = dr.reference;
    d.first_failure = time_of(dr.first_failure);
    d.last_attempt = time_of(dr.last_attempt);
    d.next_attempt = time_of(dr.next_attempt);
    b.destinations.push_back(std::move(d));
  }
  return b;
}

} // namespace softpack::service
