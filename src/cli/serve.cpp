#include "cli/serve.hpp"

#include "artifacts/git_publisher.hpp"
#include "cli/common.hpp"
#include "scheduler/registry.hpp"
#include "server/http_server.hpp"
#include "service/service.hpp"
#include "store/store.hpp"
#include "util/command.hpp"

#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

namespace softpack::cli {

namespace asio = boost::asio;

int serve(const config::Config& config) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S%z %l %v");
  asio::io_context io;
  SystemCommandRunner runner;
  SystemClock clock;

  auto api_token = config::read_secret("SOFTPACK_API_TOKEN", config.server.api_token_file);
  auto gitlab_token = config::read_secret("SOFTPACK_GITLAB_TOKEN", config.server.gitlab_token_file);
  for (const auto* t : {&api_token, &gitlab_token}) {
    if (!*t) {
      spdlog::error("{}", t->error().describe());
      return k_exit_config;
    }
  }
  auto sched = scheduler::make_scheduler(config.scheduler.backend, {io, runner, config});
  if (!sched) {
    spdlog::error("{}", sched.error().describe());
    return exit_code_for(sched.error());
  }
  auto store = store::Store::open(config.data_dir / "softpack-builder.db");
  if (!store) {
    spdlog::error("{}", store.error().describe());
    return k_exit_internal;
  }
  auto destinations = make_destinations(config, runner);
  if (!destinations) {
    spdlog::error("{}", destinations.error().describe());
    return exit_code_for(destinations.error());
  }

  service::Service svc(io, config, **sched, destinations->list(), **store, runner, clock);
  server::ServerOptions options;
  options.address = config.server.address;
  options.port = static_cast<std::uint16_t>(config.server.port);
  options.read_timeout = config.server.read_timeout;
  options.write_timeout = config.server.write_timeout;
  options.handler.api_token = *api_token;
  options.handler.gitlab_token = *gitlab_token;
  options.handler.max_body_bytes = config.server.max_body_bytes;
  server::HttpServer http(io, svc, options);
  svc.set_extra_metrics([&http] { return http.metrics_text(); });

  if (auto r = svc.start(); !r) {
    spdlog::error("{}", r.error().describe());
    return k_exit_internal;
  }
  if (auto r = http.start(); !r) {
    spdlog::error("{}", r.error().describe());
    return k_exit_internal;
  }
  if (!config.core.url.empty()) {
    // softpack-core sends again the builds it still waits for. It may be down: that is logged,
    // and must not hold up serving (the request runs beside the io loop).
    std::thread([options = core_options(config)] {
      if (auto r = artifacts::resend_pending_builds(options); !r) {
        spdlog::warn("asking softpack-core to resend pending builds failed: {}",
                     r.error().describe());
      } else {
        spdlog::info("asked softpack-core to resend pending builds ({})", options.url);
      }
    }).detach();
  }
  spdlog::info("softpack-builder {} serving on {}:{} (scheduler {}, data {})", SOFTPACK_VERSION,
               options.address, http.port(), (*sched)->name(), config.data_dir.string());

  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer grace(io);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) {
      return;
    }
    spdlog::info("signal {}: stopping (jobs keep running; state is saved)", sig);
    http.stop();
    // In-flight requests take milliseconds; give them a moment, then leave.
    grace.expires_after(std::chrono::seconds(1));
    grace.async_wait([&](const boost::system::error_code&) { io.stop(); });
  });
  io.run();
  spdlog::info("stopped");
  return k_exit_ok;
}

} // namespace softpack::cli
