#pragma once

// The service behind `softpack-builder serve`: accepts builds (HTTP, webhook), keeps every
// build durable in the store, limits builds in flight (the rest wait as `queued`, in order),
// re-attaches to unfinished builds at start, and serves the JSON of the HTTP API (cached until
// something changes). Its parts: records (builds <-> store rows), views (JSON, metrics),
// webhook (what a push asks, reading the specs), queue (builds waiting for a slot).
//
// Threading: everything runs on the io_context thread; webhook git work goes to a worker
// thread and posts its results back.

#include "artifacts/publisher.hpp"
#include "config/config.hpp"
#include "flow/engine.hpp"
#include "scheduler/scheduler.hpp"
#include "server/api.hpp"
#include "service/records.hpp"
#include "service/webhook.hpp"
#include "store/store.hpp"
#include "util/command.hpp"
#include "util/time.hpp"

#include <map>
#include <memory>

#include <boost/asio/io_context.hpp>

namespace softpack::service {

class Service final : public server::ServiceApi,
                      public flow::BuildObserver,
                      public flow::BuildJournal {
public:
  Service(boost::asio::io_context& io, const config::Config& config,
          scheduler::Scheduler& scheduler, std::vector<artifacts::Publisher*> publishers,
          store::Store& store, CommandRunner& runner, const Clock& clock);
  ~Service() override;

  // Loads the store: finished builds for the status API, unfinished ones resumed (or queued).
  Expected<void> start();
  // Builds not yet final (running or queued).
  std::size_t active() const;

  // server::ServiceApi
  Expected<server::SubmitOutcome> submit(const spec::ValidSpec& spec,
                                         const auth::Requester& requester) override;
  std::optional<server::BuildOwner> build_owner(const std::string& id) override;
  std::shared_ptr<const std::string> environments_status_json() override;
  std::shared_ptr<const std::string> builds_json() override;
  std::optional<std::string> build_json(const std::string& id) override;
  Expected<bool> cancel(const std::string& id) override;
  std::string metrics_text() override;
  Expected<void> healthy() override;
  Expected<server::WebhookOutcome> gitlab_push(const std::string& delivery_id,
                                               const server::GitlabPush& push) override;

  // flow::BuildObserver
  void on_stage_changed(const flow::BuildStatus& build, const flow::StageStatus& stage) override;
  void on_build_changed(const flow::BuildStatus& build) override;
  void on_destination_changed(const flow::BuildStatus& build,
                              const flow::DestinationStatus& destination) override;
  // flow::BuildJournal
  Expected<void> save(const flow::BuildStatus& build) override;

  // Extra metrics text appended to /metrics (e.g. the HTTP server's counters).
  void set_extra_metrics(std::function<std::string()> extra) { m_extra_metrics = std::move(extra); }

private:
  void start_queued();
  Expected<void> launch(const flow::BuildStatus& queued);
  void changed();
  // Reads what the push changed (on the webhook thread), then finish_push() (back on the
  // io_context) submits the environments and records the delivery as handled, unless reading
  // or starting a build failed: then a redelivery is handled again.
  void handle_push(const std::string& delivery_id, PushPlan plan);
  void finish_push(const std::string& delivery_id, const Expected<PushRead>& read);

  struct Impl;
  std::unique_ptr<Impl> m_impl;
  std::function<std::string()> m_extra_metrics;
};

} // namespace softpack::service
