#include "service/service.hpp"

#include "flow/plan.hpp"
#include "render/template.hpp"
#include "service/queue.hpp"
#include "service/records.hpp"
#include "service/views.hpp"
#include "service/webhook.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

namespace softpack::service {

namespace asio = boost::asio;
using flow::BuildState;
using flow::BuildStatus;
using flow::StageStatus;
using scheduler::JobState;

namespace {

std::vector<std::string> names_of(const std::vector<artifacts::Publisher*>& publishers) {
  std::vector<std::string> names;
  for (const auto* p : publishers) {
    names.push_back(p->name());
  }
  return names;
}

} // namespace

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
  BuildQueue queue;
  std::shared_ptr<const std::string> status_cache, builds_cache;
  std::string store_error;
  std::size_t deliveries = 0, duplicate_deliveries = 0, failed_deliveries = 0, webhook_builds = 0;
  asio::thread_pool webhook_pool{1};
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  Impl(asio::io_context& io_, const config::Config& c, scheduler::Scheduler& s,
       std::vector<artifacts::Publisher*> p, store::Store& st, CommandRunner& r, const Clock& cl)
      : publishers(p), publisher_names(names_of(p)), io(io_), config(c), sched(s), store(st),
        runner(r), clock(cl), engine(io_, s, p, flow::engine_options(c), cl),
        templates(c.templates_dir),
        queue(static_cast<std::size_t>(std::max(1, c.server.max_builds_in_flight))) {}

  void remember(const BuildStatus& b) {
    if (!builds.count(b.id)) {
      order.push_back(b.id);
    }
    builds[b.id] = b;
  }

  // Every build, in request order.
  std::vector<const BuildStatus*> in_order() const {
    std::vector<const BuildStatus*> out;
    out.reserve(order.size());
    for (const auto& id : order) {
      out.push_back(&builds.at(id));
    }
    return out;
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
      m_impl->queue.push(b->id);
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

namespace {

// Users' builds in flight (submitted to the engine, not final), by login: what
// server.max_builds_per_user counts. Builds of tokens, softpack-core and the webhook are not.
std::map<std::string, int> user_builds_in_flight(const flow::FlowEngine& engine) {
  std::map<std::string, int> counts;
  for (const auto* b : engine.builds()) {
    if (!flow::is_final(b->state) && b->requested_by.is_user()) {
      ++counts[b->requested_by.name];
    }
  }
  return counts;
}

} // namespace

void Service::start_queued() {
  auto& impl = *m_impl;
  const int per_user = impl.config.server.max_builds_per_user;
  auto counts = user_builds_in_flight(impl.engine);
  // Whether the build waits for its user's builds in flight, whatever the global slots.
  auto held = [&](const BuildStatus& b) {
    return per_user > 0 && b.requested_by.is_user() && counts[b.requested_by.name] >= per_user;
  };
  auto may_start = [&](const std::string& id) {
    auto it = impl.builds.find(id);
    // Anything not startable is taken off the queue (and skipped below).
    return it == impl.builds.end() || it->second.state != BuildState::queued || !held(it->second);
  };
  while (auto next = impl.queue.next(impl.engine.active(), may_start)) {
    const std::string id = std::move(*next);
    auto it = impl.builds.find(id);
    if (it == impl.builds.end() || it->second.state != BuildState::queued) {
      continue;
    }
    it->second.queue_reason.clear(); // it no longer waits; saved with its next state
    if (it->second.requested_by.is_user()) {
      ++counts[it->second.requested_by.name];
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
  // Why each build still waits: its user's limit, else (no slot was free for it) the global one.
  for (const auto& id : impl.queue.waiting()) {
    auto it = impl.builds.find(id);
    if (it == impl.builds.end() || it->second.state != BuildState::queued) {
      continue;
    }
    BuildStatus& b = it->second;
    std::string reason;
    if (held(b)) {
      reason = "waiting: " + b.requested_by.name + " has " +
               std::to_string(counts[b.requested_by.name]) +
               " builds in flight (server.max_builds_per_user: " + std::to_string(per_user) + ")";
    } else {
      reason = "waiting for a slot (server.max_builds_in_flight: " +
               std::to_string(impl.queue.max_in_flight()) + ")";
    }
    if (reason != b.queue_reason) {
      b.queue_reason = std::move(reason);
      (void)save(b); // durable: a restart shows it until the queue says otherwise
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

Expected<server::SubmitOutcome> Service::submit(const spec::ValidSpec& spec,
                                                const auth::Requester& requester) {
  if (auto v = flow::destinations_accept(m_impl->publishers, spec); !v) {
    return v.error();
  }
  const std::string full = spec->full_name();
  for (const auto* b : m_impl->in_order()) {
    if (!flow::is_final(b->state) && b->spec->full_name() == full) {
      if (b->spec.hash() == spec.hash()) {
        // The same request again (the first requester keeps the build).
        return server::SubmitOutcome{b->id, true, b->queue_reason};
      }
      // As go-softpack-builder answers (with a 500), but as the conflict it is.
      return make_error(ErrorKind::conflict,
                        "build already running for environment " + full + " (build " + b->id +
                            ", " + std::string(flow::to_string(b->state)) +
                            "), with a different spec; retry when it has ended");
    }
  }
  BuildStatus b;
  b.id = flow::new_build_id(m_impl->clock.now());
  b.spec = spec;
  b.state = BuildState::queued;
  b.requested = m_impl->clock.now();
  b.requested_by = requester;
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
  m_impl->queue.push(b.id);
  spdlog::info("build {} of {} accepted{}", b.id, full,
               b.requested_by.kind == auth::Requester::Kind::none
                   ? std::string()
                   : " from " + b.requested_by.describe());
  start_queued();
  changed();
  const BuildStatus& now = m_impl->builds.at(b.id);
  return server::SubmitOutcome{b.id, false,
                               now.state == BuildState::queued ? now.queue_reason : std::string()};
}

std::optional<server::BuildOwner> Service::build_owner(const std::string& id) {
  auto it = m_impl->builds.find(id);
  if (it == m_impl->builds.end()) {
    return std::nullopt;
  }
  return server::BuildOwner{it->second.spec->path, it->second.requested_by};
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
    m_impl->status_cache =
        std::make_shared<const std::string>(service::environments_status_json(m_impl->in_order()));
  }
  return m_impl->status_cache;
}

std::shared_ptr<const std::string> Service::builds_json() {
  if (!m_impl->builds_cache) {
    m_impl->builds_cache =
        std::make_shared<const std::string>(service::builds_json(m_impl->in_order()));
  }
  return m_impl->builds_cache;
}

std::optional<std::string> Service::build_json(const std::string& id) {
  auto it = m_impl->builds.find(id);
  if (it == m_impl->builds.end()) {
    return std::nullopt;
  }
  return service::build_json(it->second, true);
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
    b.queue_reason.clear();
    for (auto& st : b.stages) {
      st.state = JobState::cancelled;
      st.reason = "cancelled while queued";
    }
    m_impl->queue.remove(id);
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
  MetricsInput in;
  in.builds = m_impl->in_order();
  in.destinations = m_impl->publisher_names;
  in.scheduler = std::string(m_impl->sched.name());
  in.poll_calls = m_impl->engine.poll_calls();
  const auto last = m_impl->engine.last_successful_poll();
  if (m_impl->engine.tracking_jobs() && last) {
    in.poll_age_seconds = std::chrono::duration<double>(m_impl->clock.now() - *last).count();
  }
  in.scheduler_metrics = m_impl->sched.metrics();
  in.deliveries = m_impl->deliveries;
  in.duplicate_deliveries = m_impl->duplicate_deliveries;
  in.failed_deliveries = m_impl->failed_deliveries;
  in.store_healthy = m_impl->store_error.empty();
  std::string out = service::metrics_text(in);
  if (m_extra_metrics) {
    out += m_extra_metrics();
  }
  return out;
}

Expected<void> Service::healthy() {
  if (!m_impl->store_error.empty()) {
    return make_error(ErrorKind::io, m_impl->store_error, "store");
  }
  return {};
}

Expected<server::WebhookOutcome> Service::gitlab_push(const std::string& delivery_id,
                                                      const server::GitlabPush& push) {
  ++m_impl->deliveries;
  // A delivery is recorded as handled only once its push has been read (finish_push), so a
  // delivery whose reading failed is handled again when GitLab redelivers it.
  if (!delivery_id.empty()) {
    auto seen = m_impl->store.delivery_recorded(delivery_id);
    if (!seen) {
      return seen.error();
    }
    if (*seen) {
      ++m_impl->duplicate_deliveries;
      return server::WebhookOutcome{false, "duplicate delivery " + delivery_id + " ignored"};
    }
  }
  PushPlan plan = plan_push(push, m_impl->config.artifacts);
  if (!plan.read) {
    spdlog::info("webhook {}: {}", delivery_id, plan.message);
    if (!delivery_id.empty()) {
      if (auto r = m_impl->store.record_delivery(delivery_id); !r) {
        return r.error();
      }
    }
    return server::WebhookOutcome{false, plan.message};
  }
  std::string message = plan.message;
  spdlog::info("webhook {}: {}", delivery_id, message);
  handle_push(delivery_id, std::move(plan));
  return server::WebhookOutcome{true, std::move(message)};
}

void Service::handle_push(const std::string& delivery_id, PushPlan plan) {
  const auto& config = m_impl->config;
  artifacts::GitReaderOptions repository{
      config.artifacts_repo(), std::filesystem::absolute(config.data_dir / "webhook-mirror.git"),
      config.artifacts.credentials_file, config.artifacts.ssh_key_file};
  auto* impl = m_impl.get();
  asio::post(impl->webhook_pool, [this, impl, delivery_id, plan = std::move(plan), repository,
                                  alive = std::weak_ptr<bool>(impl->alive)] {
    Expected<PushRead> read = make_error(ErrorKind::internal, "not read");
    try {
      read = read_push(impl->runner, repository, plan, impl->config.artifacts, delivery_id);
    } catch (const std::exception& e) {
      // A bug, in this delivery's work only: the service goes on.
      read = make_error(ErrorKind::internal, std::string("unexpected exception: ") + e.what());
    }
    asio::post(impl->io, [this, read = std::move(read), delivery_id, alive] {
      if (alive.lock()) {
        finish_push(delivery_id, read);
      }
    });
  });
}

void Service::finish_push(const std::string& delivery_id, const Expected<PushRead>& read) {
  auto& impl = *m_impl;
  if (!read) {
    ++impl.failed_deliveries;
    spdlog::error("webhook {}: {}; not recorded as handled, so a redelivery is read again",
                  delivery_id, read.error().describe());
    return;
  }
  spdlog::info("webhook {}: {}", delivery_id, read->summary);
  if (!delivery_id.empty()) {
    // The same delivery, queued twice while the first was being read, is built once.
    auto seen = impl.store.delivery_recorded(delivery_id);
    if (!seen) {
      spdlog::error("webhook {}: {}", delivery_id, seen.error().describe());
      return;
    }
    if (*seen) {
      ++impl.duplicate_deliveries;
      spdlog::info("webhook {}: handled meanwhile; duplicate ignored", delivery_id);
      return;
    }
  }
  bool all_done = true;
  for (const auto& s : read->specs) {
    const std::string env = s->full_name();
    // The same commit again (another delivery id, a push of a branch GitLab reports twice):
    // not rebuilt while a build of it is running or has been published. One that failed or
    // was cancelled is built again.
    auto prior = impl.store.build_from_commit(read->commit, env);
    if (!prior) {
      all_done = false;
      spdlog::error("webhook {}: {}", delivery_id, prior.error().describe());
      continue;
    }
    if (*prior) {
      auto it = impl.builds.find(**prior);
      if (it != impl.builds.end() &&
          (!flow::is_final(it->second.state) || it->second.state == BuildState::published)) {
        spdlog::info("webhook {}: {} at {} is already build {} ({}); not built again", delivery_id,
                     env, read->commit, it->first, flow::to_string(it->second.state));
        continue;
      }
    }
    // Attributed to the GitLab user who pushed (the Push Hook's user_username).
    auto r = submit(s, auth::Requester{auth::Requester::Kind::webhook, read->pusher, {}});
    if (!r) {
      all_done = false;
      spdlog::error("webhook {}: {}: {}", delivery_id, env, r.error().describe());
      continue;
    }
    ++impl.webhook_builds;
    spdlog::info("webhook {}: build {} of {} at {}{}", delivery_id, r->build_id, env, read->commit,
                 r->existing ? " (already building)" : "");
    if (auto rec = impl.store.record_build_from_commit(read->commit, env, r->build_id); !rec) {
      all_done = false;
      spdlog::error("webhook {}: {}", delivery_id, rec.error().describe());
    }
  }
  if (!all_done) {
    ++impl.failed_deliveries;
    spdlog::error("webhook {}: not every environment could be started; not recorded as handled, "
                  "so a redelivery tries again",
                  delivery_id);
    return;
  }
  if (!delivery_id.empty()) {
    if (auto r = impl.store.record_delivery(delivery_id); !r) {
      spdlog::error("webhook {}: {}", delivery_id, r.error().describe());
    }
  }
}

} // namespace softpack::service
