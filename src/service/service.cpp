#include "service/service.hpp"

#include "artifacts/git_reader.hpp"
#include "flow/plan.hpp"
#include "render/template.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

namespace softpack::service {

namespace asio = boost::asio;
namespace json = boost::json;
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

std::optional<BuildState> build_state_from(std::string_view s) {
  for (auto st :
       {BuildState::queued, BuildState::submitting, BuildState::running, BuildState::publishing,
        BuildState::published, BuildState::failed, BuildState::cancelled}) {
    if (flow::to_string(st) == s) {
      return st;
    }
  }
  return std::nullopt;
}

json::value time_json(const std::optional<SystemTime>& t) {
  return t ? json::value(format_rfc3339(*t)) : json::value(nullptr);
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
  auto state = build_state_from(r.state);
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

std::vector<std::string> names_of(const std::vector<artifacts::Publisher*>& publishers) {
  std::vector<std::string> names;
  for (const auto* p : publishers) {
    names.push_back(p->name());
  }
  return names;
}

struct Service::Impl {
  std::vector<artifacts::Publisher*> publishers; // the destinations, in order
  std::vector<std::string> publisher_names;
  asio::io_context& io;
  const config::Config& config;
  scheduler::Scheduler& sched;
  store::Store& store;
  CommandRunner& runner;
  const Clock& clock;
  flow::FlowEngine engine;
  render::TemplateSet templates;
  std::map<std::string, BuildStatus> builds; // every build known, by id
  std::vector<std::string> order;            // ids in request order
  std::deque<std::string> queue;             // queued build ids, oldest first
  std::shared_ptr<const std::string> status_cache, builds_cache;
  std::string store_error;
  std::size_t deliveries = 0, duplicate_deliveries = 0, webhook_builds = 0;
  asio::thread_pool webhook_pool{1};
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  Impl(asio::io_context& io_, const config::Config& c, scheduler::Scheduler& s,
       std::vector<artifacts::Publisher*> p, store::Store& st, CommandRunner& r, const Clock& cl)
      : publishers(p), publisher_names(names_of(p)), io(io_), config(c), sched(s), store(st),
        runner(r), clock(cl), engine(io_, s, p, flow::engine_options(c), cl),
        templates(c.templates_dir) {}

  void remember(const BuildStatus& b) {
    if (!builds.count(b.id)) {
      order.push_back(b.id);
    }
    builds[b.id] = b;
  }
};

Service::Service(asio::io_context& io, const config::Config& config,
                 scheduler::Scheduler& scheduler, std::vector<artifacts::Publisher*> publishers,
                 store::Store& store, CommandRunner& runner, const Clock& clock)
    : m_impl(std::make_unique<Impl>(io, config, scheduler, std::move(publishers), store, runner,
                                    clock)) {
  m_impl->engine.set_observer(this);
  m_impl->engine.set_journal(this);
}

Service::~Service() {
  m_impl->alive.reset();
  m_impl->webhook_pool.join();
  m_impl->engine.set_observer(nullptr);
  m_impl->engine.set_journal(nullptr);
}

std::size_t Service::active() const {
  std::size_t n = 0;
  for (const auto& [id, b] : m_impl->builds) {
    n += flow::is_final(b.state) ? 0 : 1;
  }
  return n;
}

Expected<void> Service::start() {
  auto records = m_impl->store.all();
  if (!records) {
    return records.error();
  }
  std::size_t resumed = 0;
  for (const auto& r : *records) {
    auto b = from_record(r);
    if (!b) {
      spdlog::error("skipping stored build: {}", b.error().describe());
      continue;
    }
    m_impl->remember(*b);
    if (flow::is_final(b->state)) {
      continue;
    }
    if (b->state == BuildState::queued) {
      m_impl->queue.push_back(b->id);
      continue;
    }
    auto plan = flow::make_plan(m_impl->config, b->spec, b->id, m_impl->templates);
    if (!plan) {
      // Left as it was, the build would stay active forever (counted, deduplicated against,
      // "cancelled" without effect): end it the way start_queued() ends a build it cannot start.
      BuildStatus& stuck = m_impl->builds.at(b->id);
      stuck.state = BuildState::failed;
      stuck.error = "could not resume after a restart: " + plan.error().describe();
      stuck.done = m_impl->clock.now();
      spdlog::error("build {}: {}", b->id, stuck.error);
      (void)save(stuck);
      continue;
    }
    ++resumed;
    m_impl->engine.resume(std::move(*plan), *b);
  }
  spdlog::info("loaded {} builds from the store: {} resumed, {} queued", records->size(), resumed,
               m_impl->queue.size());
  start_queued();
  changed();
  return {};
}

void Service::start_queued() {
  while (!m_impl->queue.empty() &&
         m_impl->engine.active() <
             static_cast<std::size_t>(m_impl->config.server.max_builds_in_flight)) {
    const std::string id = m_impl->queue.front();
    m_impl->queue.pop_front();
    auto it = m_impl->builds.find(id);
    if (it == m_impl->builds.end() || it->second.state != BuildState::queued) {
      continue;
    }
    if (auto r = launch(it->second); !r) {
      BuildStatus& b = it->second;
      b.state = BuildState::failed;
      b.error = "could not start: " + r.error().describe();
      b.done = m_impl->clock.now();
      spdlog::error("build {}: {}", id, b.error);
      (void)save(b);
      changed();
    }
  }
}

Expected<void> Service::launch(const BuildStatus& queued) {
  auto plan = flow::make_plan(m_impl->config, queued.spec, queued.id, m_impl->templates);
  if (!plan) {
    return plan.error();
  }
  if (!std::filesystem::exists(plan->build_dir / "build.json")) {
    if (auto w = flow::write_plan(*plan); !w) {
      return w.error();
    }
  }
  m_impl->engine.resume(std::move(*plan), queued);
  return {};
}

Expected<server::SubmitOutcome> Service::submit(const spec::ValidSpec& spec) {
  if (auto v = flow::destinations_accept(m_impl->publishers, spec); !v) {
    return v.error();
  }
  const std::string full = spec->full_name();
  for (const auto& id : m_impl->order) {
    const auto& b = m_impl->builds.at(id);
    if (!flow::is_final(b.state) && b.spec->full_name() == full) {
      return server::SubmitOutcome{b.id, true};
    }
  }
  BuildStatus b;
  b.id = flow::new_build_id(m_impl->clock.now());
  b.spec = spec;
  b.state = BuildState::queued;
  b.requested = m_impl->clock.now();
  b.build_dir = std::filesystem::absolute(m_impl->config.builds_dir() / b.id);
  for (const auto& stage : flow::stage_names()) {
    StageStatus st;
    st.name = stage;
    st.job_name = flow::job_name(spec, stage);
    b.stages.push_back(st);
  }
  // Durable before acknowledged: a request the store could not record is refused, not lost.
  if (auto r = save(b); !r) {
    return r.error();
  }
  m_impl->remember(b);
  m_impl->queue.push_back(b.id);
  spdlog::info("build {} of {} accepted", b.id, full);
  start_queued();
  changed();
  return server::SubmitOutcome{b.id, false};
}

void Service::changed() {
  m_impl->status_cache.reset();
  m_impl->builds_cache.reset();
}

void Service::on_stage_changed(const BuildStatus& build, const StageStatus&) {
  m_impl->remember(build);
  changed();
}

void Service::on_destination_changed(const BuildStatus& build, const flow::DestinationStatus&) {
  m_impl->remember(build);
  changed();
}

void Service::on_build_changed(const BuildStatus& build) {
  m_impl->remember(build);
  changed();
  if (flow::is_final(build.state)) {
    // A slot is free: start the next queued build, outside the engine's call stack.
    asio::post(m_impl->io, [this, alive = std::weak_ptr<bool>(m_impl->alive)] {
      if (alive.lock()) {
        start_queued();
      }
    });
  }
}

Expected<void> Service::save(const BuildStatus& build) {
  auto r = m_impl->store.save(to_record(build, m_impl->sched.name()));
  if (!r) {
    m_impl->store_error = r.error().describe();
    spdlog::error("store: {}", m_impl->store_error);
  } else {
    m_impl->store_error.clear();
  }
  return r;
}

std::shared_ptr<const std::string> Service::environments_status_json() {
  if (!m_impl->status_cache) {
    json::array a;
    a.reserve(m_impl->order.size());
    for (const auto& id : m_impl->order) {
      const auto& b = m_impl->builds.at(id);
      json::object o;
      o["Name"] = b.spec->full_name();
      o["Requested"] = format_rfc3339(b.requested);
      o["BuildStart"] = time_json(b.started);
      o["BuildDone"] = time_json(flow::is_final(b.state) ? b.done : std::nullopt);
      a.emplace_back(std::move(o));
    }
    m_impl->status_cache = std::make_shared<const std::string>(json::serialize(a));
  }
  return m_impl->status_cache;
}

namespace {
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

std::shared_ptr<const std::string> Service::builds_json() {
  if (!m_impl->builds_cache) {
    json::array a;
    for (const auto& id : m_impl->order) {
      a.emplace_back(build_object(m_impl->builds.at(id), false));
    }
    m_impl->builds_cache = std::make_shared<const std::string>(json::serialize(a));
  }
  return m_impl->builds_cache;
}

std::optional<std::string> Service::build_json(const std::string& id) {
  auto it = m_impl->builds.find(id);
  if (it == m_impl->builds.end()) {
    return std::nullopt;
  }
  return json::serialize(build_object(it->second, true));
}

Expected<bool> Service::cancel(const std::string& id) {
  auto it = m_impl->builds.find(id);
  if (it == m_impl->builds.end()) {
    return false;
  }
  BuildStatus& b = it->second;
  if (flow::is_final(b.state)) {
    return make_error(ErrorKind::invalid_input, "build " + id + " already ended (" +
                                                    std::string(flow::to_string(b.state)) + ")");
  }
  if (b.state == BuildState::publishing) {
    return make_error(ErrorKind::invalid_input,
                      "build " + id + " has finished its jobs and is being published");
  }
  if (b.state == BuildState::queued) {
    b.cancel_requested = true;
    b.state = BuildState::cancelled;
    b.done = m_impl->clock.now();
    for (auto& st : b.stages) {
      st.state = JobState::cancelled;
      st.reason = "cancelled while queued";
    }
    std::erase(m_impl->queue, id);
    (void)save(b);
    changed();
    return true;
  }
  if (!m_impl->engine.cancel(id)) {
    return make_error(ErrorKind::invalid_input, "build " + id + " cannot be cancelled now (" +
                                                    std::string(flow::to_string(b.state)) + ")");
  }
  return true;
}

std::string Service::metrics_text() {
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
  for (const auto& name : m_impl->publisher_names) {
    retrying[name] = 0;
  }
  for (const auto& [id, b] : m_impl->builds) {
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
  out += "softpack_scheduler_polls_total{scheduler=\"" + std::string(m_impl->sched.name()) +
         "\"} " + std::to_string(m_impl->engine.poll_calls()) + "\n";
  const auto last = m_impl->engine.last_successful_poll();
  out += "# HELP softpack_scheduler_poll_age_seconds Seconds since the scheduler last answered a "
         "poll, while jobs are followed (0 otherwise); far above poll_interval means polls lag "
         "or fail.\n# TYPE softpack_scheduler_poll_age_seconds gauge\n";
  double age = 0;
  if (m_impl->engine.tracking_jobs() && last) {
    age = std::chrono::duration<double>(m_impl->clock.now() - *last).count();
  }
  out += "softpack_scheduler_poll_age_seconds " + std::to_string(age) + "\n";
  out += m_impl->sched.metrics();
  out += "# HELP softpack_webhook_deliveries_total GitLab deliveries received, and duplicates.\n"
         "# TYPE softpack_webhook_deliveries_total counter\n";
  out += "softpack_webhook_deliveries_total " + std::to_string(m_impl->deliveries) + "\n";
  out += "softpack_webhook_duplicate_deliveries_total " +
         std::to_string(m_impl->duplicate_deliveries) + "\n";
  out += "# HELP softpack_store_healthy 1 when the last write to the store succeeded.\n"
         "# TYPE softpack_store_healthy gauge\n";
  out += "softpack_store_healthy " + std::string(m_impl->store_error.empty() ? "1" : "0") + "\n";
  if (m_extra_metrics) {
    out += m_extra_metrics();
  }
  return out;
}

bool Service::healthy(std::string& detail) {
  if (!m_impl->store_error.empty()) {
    detail = "store: " + m_impl->store_error;
    return false;
  }
  return true;
}

namespace {
bool made_by_builder(const server::GitlabCommit& c, const config::Config& config) {
  return c.message.find("Softpack-Build-Id:") != std::string::npos ||
         (!config.artifacts.author_email.empty() &&
          c.author_email == config.artifacts.author_email);
}
} // namespace

Expected<server::WebhookOutcome> Service::gitlab_push(const std::string& delivery_id,
                                                      const server::GitlabPush& push) {
  ++m_impl->deliveries;
  if (!delivery_id.empty()) {
    auto fresh = m_impl->store.record_delivery(delivery_id);
    if (!fresh) {
      return fresh.error();
    }
    if (!*fresh) {
      ++m_impl->duplicate_deliveries;
      return server::WebhookOutcome{0, "duplicate delivery " + delivery_id + " ignored"};
    }
  }
  if (push.ref != "refs/heads/" + m_impl->config.artifacts.branch) {
    return server::WebhookOutcome{0, "push to " + push.ref + " ignored (builds come from " +
                                         m_impl->config.artifacts.branch + ")"};
  }
  server::GitlabPush theirs = push;
  std::erase_if(theirs.commits,
                [&](const server::GitlabCommit& c) { return made_by_builder(c, m_impl->config); });
  if (theirs.commits.empty()) {
    return server::WebhookOutcome{0, "push made by softpack-builder ignored"};
  }
  const auto changed_envs = server::changed_environments(theirs);
  if (changed_envs.empty()) {
    return server::WebhookOutcome{0, "no environment's softpack.yml changed"};
  }
  handle_push(delivery_id, theirs, changed_envs);
  return server::WebhookOutcome{changed_envs.size(),
                                std::to_string(changed_envs.size()) + " environment(s) to check"};
}

void Service::handle_push(const std::string& delivery_id, const server::GitlabPush& push,
                          const std::vector<server::ChangedEnvironment>& envs) {
  const std::string commit = push.checkout_sha.empty() ? push.after : push.checkout_sha;
  const std::string remote = m_impl->config.artifacts_repo();
  const auto mirror = std::filesystem::absolute(m_impl->config.data_dir / "webhook-mirror.git");
  auto* impl = m_impl.get();
  asio::post(impl->webhook_pool, [this, impl, delivery_id, commit, envs, remote, mirror,
                                  alive = std::weak_ptr<bool>(impl->alive)] {
    artifacts::GitReader reader(impl->runner, remote, mirror);
    std::vector<spec::ValidSpec> specs;
    if (auto f = reader.fetch(); !f) {
      spdlog::error("webhook {}: {}", delivery_id, f.error().describe());
      return;
    }
    for (const auto& env : envs) {
      const std::string dir = env.file.substr(0, env.file.rfind('/'));
      auto built = reader.exists(commit, dir + "/module");
      if (!built) {
        spdlog::error("webhook {}: {}", delivery_id, built.error().describe());
        continue;
      }
      if (*built) {
        spdlog::info("webhook {}: {} already has a module; not rebuilt", delivery_id, dir);
        continue;
      }
      auto text = reader.read(commit, env.file);
      if (!text || !text->has_value()) {
        spdlog::error("webhook {}: cannot read {} at {}", delivery_id, env.file, commit);
        continue;
      }
      auto spec = spec::parse_softpack_yml(**text, env.file, env.path, env.name, env.version);
      if (!spec) {
        spdlog::error("webhook {}: {}", delivery_id, spec.error().describe());
        continue;
      }
      specs.push_back(std::move(*spec));
    }
    asio::post(impl->io, [this, impl, specs, delivery_id, alive] {
      if (!alive.lock()) {
        return;
      }
      for (const auto& s : specs) {
        auto r = submit(s);
        if (r) {
          ++impl->webhook_builds;
          spdlog::info("webhook {}: build {} of {}{}", delivery_id, r->build_id, s->full_name(),
                       r->existing ? " (already building)" : "");
        } else {
          spdlog::error("webhook {}: {}: {}", delivery_id, s->full_name(), r.error().describe());
        }
      }
    });
  });
}

} // namespace softpack::service
