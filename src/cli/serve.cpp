#include "cli/serve.hpp"

#include "backends/backends.hpp"
#include "cli/common.hpp"
#include "cli/wiring.hpp"
#include "server/http_server.hpp"
#include "service/service.hpp"
#include "store/store.hpp"

#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

namespace softpack::cli {

namespace asio = boost::asio;

int serve(const config::Config& config, const ServeSecrets& secrets) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S%z %l %v");

  auto wired = wire(config);
  if (!wired) {
    spdlog::error("{}", wired.error().describe());
    return exit_code_for(wired.error());
  }
  asio::io_context& io = (*wired)->io;
  scheduler::Scheduler& sched = *(*wired)->backends.scheduler;
  // Before any build is resumed: the local executor ends what a dead service left running.
  if (auto t = sched.take_over(std::filesystem::absolute(config.data_dir / "local-jobs")); !t) {
    spdlog::error("{}", t.error().describe());
    return exit_code_for(t.error());
  }
  auto store = store::Store::open(config.data_dir / "softpack-builder.db");
  if (!store) {
    spdlog::error("{}", store.error().describe());
    return k_exit_internal;
  }

  service::Service svc(io, config, sched, (*wired)->backends.publishers(), **store,
                       (*wired)->runner, (*wired)->clock);
  server::ServerOptions options;
  options.address = config.server.address;
  options.port = static_cast<std::uint16_t>(config.server.port);
  options.read_timeout = config.server.read_timeout;
  options.write_timeout = config.server.write_timeout;
  options.handler.api_token = secrets.api_token;
  options.handler.gitlab_token = secrets.gitlab_token;
  options.handler.core_clients = config.server.core_clients;
  options.handler.max_body_bytes = config.server.max_body_bytes;
  options.handler.tokens = secrets.tokens;
  options.handler.identity = config.server.identity_on();
  options.handler.munge = config.server.munge;
  options.handler.socket_path = config.server.socket;
  options.handler.policy = auth::Policy{config.server.admin_users, config.server.admin_groups};
  options.socket_path = config.server.socket;
  options.socket_mode = config.server.socket_mode;
  if (config.server.identity_on()) {
    options.accounts = auth::make_nss_accounts();
    options.rate_limit_requests = config.server.user_rate_limit.requests;
    options.rate_limit_per = config.server.user_rate_limit.per;
  }
  if (config.server.munge) {
    options.munge = auth::make_libmunge_codec(config.server.munge_socket);
  }
  if (!config.server.identity_on() && !options.handler.api_token.empty()) {
    std::string clients;
    for (const auto& n : config.server.core_clients) {
      clients += (clients.empty() ? "" : ", ") + n.text;
    }
    if (!clients.empty()) {
      spdlog::warn("POST /environments/build needs no token from server.core_clients ({}), for "
                   "softpack-core; every local user's address is loopback: set core_clients to "
                   "[] or core's address when users log into this host, or turn identity on "
                   "(server.socket, server.munge)",
                   clients);
    }
  }
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
  // The destinations' start hooks (softpack-core is asked to resend the builds it waits for)
  // may wait on services that are down: that is logged, and must not hold up serving, so they
  // run beside the io loop.
  std::thread([config] { backends::service_started(config); }).detach();
  spdlog::info("softpack-builder {} serving on {}:{} (scheduler {}, data {})", SOFTPACK_VERSION,
               options.address, http.port(), sched.name(), config.data_dir.string());
  if (config.server.identity_on()) {
    spdlog::info(
        "identity: {}{}{}", config.server.munge ? "MUNGE credentials on TCP" : "",
        config.server.munge && !config.server.socket.empty() ? ", " : "",
        config.server.socket.empty() ? "" : "socket " + config.server.socket + " (SO_PEERCRED)");
  }

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
