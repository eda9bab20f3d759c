#include "cli/common.hpp"

#include "artifacts/core_upload.hpp"
#include "artifacts/git_publisher.hpp"
#include "artifacts/install_publisher.hpp"
#include "artifacts/module_files.hpp"
#include "artifacts/oci_registry.hpp"
#include "artifacts/publisher.hpp"
#include "flow/engine.hpp"
#include "flow/plan.hpp"
#include "scheduler/registry.hpp"
#include "util/command.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"

#include <cstdlib>
#include <iostream>
#include <optional>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

namespace softpack::cli {

namespace asio = boost::asio;

int exit_code_for(const Error& error) {
  switch (error.kind) {
  case ErrorKind::invalid_input:
    return k_exit_bad_input;
  case ErrorKind::config:
    return k_exit_config;
  default:
    return k_exit_internal;
  }
}

Expected<config::Config> load_site_config(const std::optional<std::string>& path) {
  if (path) {
    return config::load_config(*path);
  }
  if (const char* env = std::getenv("SOFTPACK_BUILDER_CONFIG"); env && *env) {
    return config::load_config(env);
  }
  const std::filesystem::path system_config = "/etc/softpack-builder/config.yaml";
  if (std::filesystem::exists(system_config)) {
    return config::load_config(system_config);
  }
  return config::default_config();
}

namespace {

std::string clock_text(SystemTime t) {
  const std::string s = format_rfc3339(t); // 2026-11-25T06:46:36Z
  return s.substr(11, 8);
}

class ProgressPrinter final : public flow::BuildObserver {
public:
  ProgressPrinter(std::ostream& out, bool stages) : m_out(out), m_stages(stages) {}

  void on_stage_changed(const flow::BuildStatus&, const flow::StageStatus& st) override {
    if (!m_stages) {
      return;
    }
    m_out << clock_text(std::chrono::system_clock::now()) << "  " << st.name << "  job "
          << (st.job_id ? st.job_id->value : "-") << "  " << scheduler::to_string(st.state);
    if (st.exit_code && scheduler::is_final(st.state)) {
      m_out << " (exit " << *st.exit_code << ")";
    }
    if (!st.reason.empty() && st.state != scheduler::JobState::running) {
      m_out << "  " << st.reason;
    }
    m_out << std::endl;
  }

  void on_build_changed(const flow::BuildStatus& b) override {
    // The engine reports every change of a build; a line is printed when its state changes.
    if (m_stages && std::exchange(m_last_state, b.state) != b.state) {
      m_out << clock_text(std::chrono::system_clock::now()) << "  build " << b.id << "  "
            << flow::to_string(b.state) << std::endl;
    }
  }

  // A destination that fails is always shown: the command waits for its retries.
  void on_destination_changed(const flow::BuildStatus&, const flow::DestinationStatus& d) override {
    const auto now = std::chrono::system_clock::now();
    if (d.state == flow::DestinationState::published) {
      if (m_stages) {
        m_out << clock_text(now) << "  publish " << d.name << "  done  " << d.reference
              << std::endl;
      }
      return;
    }
    m_out << clock_text(now) << "  publish " << d.name << "  failed (attempt " << d.attempts
          << "): " << d.error << std::endl;
    if (d.next_attempt) {
      const auto wait = std::chrono::duration_cast<std::chrono::seconds>(*d.next_attempt - now);
      m_out << clock_text(now) << "  publish " << d.name << "  next attempt in "
            << std::max<long long>(wait.count(), 0)
            << " s (interrupt twice to leave; the files stay in the build directory)" << std::endl;
    }
  }

private:
  std::ostream& m_out;
  bool m_stages;
  std::optional<flow::BuildState> m_last_state;
};

} // namespace

artifacts::GitPublisherOptions git_publisher_options(const config::Config& config) {
  artifacts::GitPublisherOptions git;
  git.remote = config.artifacts_repo();
  git.create_remote = config.artifacts.repo.empty();
  git.branch = config.artifacts.branch;
  git.author_name = config.artifacts.author_name;
  git.author_email = config.artifacts.author_email;
  git.mirror_dir = std::filesystem::absolute(config.data_dir / "artifacts-mirror.git");
  git.credentials_file = config.artifacts.credentials_file;
  git.ssh_key_file = config.artifacts.ssh_key_file;
  return git;
}

Expected<artifacts::RegistryOptions> registry_options(const config::Config& config) {
  artifacts::RegistryOptions o;
  o.url = config.registry.url;
  o.ca_file = config.registry.ca_file;
  o.timeout = config.registry.timeout;
  if (auto loc = artifacts::parse_registry_url(o.url); !loc) {
    return loc.error();
  }
  auto secret =
      config::read_secret("SOFTPACK_REGISTRY_CREDENTIALS", config.registry.credentials_file);
  if (!secret) {
    return secret.error();
  }
  if (!secret->empty()) {
    const auto colon = secret->find(':');
    if (colon == std::string::npos || colon == 0) {
      return make_error(ErrorKind::config, "registry credentials must be \"username:password\"",
                        config.registry.credentials_file.empty()
                            ? std::string("$SOFTPACK_REGISTRY_CREDENTIALS")
                            : config.registry.credentials_file);
    }
    o.username = secret->substr(0, colon);
    o.password = secret->substr(colon + 1);
  }
  return o;
}

artifacts::CoreOptions core_options(const config::Config& config) {
  return artifacts::CoreOptions{config.core.url, config.core.timeout};
}

std::vector<artifacts::Publisher*> Destinations::list() const {
  std::vector<artifacts::Publisher*> out;
  for (const auto& p : owned) {
    out.push_back(p.get());
  }
  return out;
}

Expected<Destinations> make_destinations(const config::Config& config, CommandRunner& runner) {
  Destinations d;
  for (const auto& name : config.publish.destinations) {
    if (name == "git") {
      d.owned.push_back(
          std::make_unique<artifacts::GitPublisher>(runner, git_publisher_options(config)));
    } else if (name == "install") {
      artifacts::InstallPublisherOptions o;
      o.module_dir = std::filesystem::absolute(config.module_dir());
      o.scripts_dir = config.scripts_dir();
      d.owned.push_back(std::make_unique<artifacts::InstallPublisher>(o));
    } else if (name == "registry") {
      auto o = registry_options(config);
      if (!o) {
        return o.error();
      }
      d.owned.push_back(std::make_unique<artifacts::RegistryPublisher>(std::move(*o)));
    } else if (name == "core") {
      d.owned.push_back(std::make_unique<artifacts::CorePublisher>(core_options(config)));
    } else {
      return make_error(ErrorKind::config,
                        "publish destination '" + name + "' is not available in this build",
                        "publish.destinations");
    }
  }
  return d;
}

int run_build(const config::Config& config, const spec::EnvironmentSpec& spec,
              const RunOptions& options, std::ostream& out, std::ostream& err) {
  spdlog::set_level(options.verbose ? spdlog::level::info : spdlog::level::warn);
  asio::io_context io;
  SystemCommandRunner runner;
  SystemClock clock;

  auto sched = scheduler::make_scheduler(config.scheduler.backend, {io, runner, config});
  if (!sched) {
    err << "sp-submit: " << sched.error().describe() << "\n";
    return exit_code_for(sched.error());
  }
  auto destinations = make_destinations(config, runner);
  if (!destinations) {
    err << "sp-submit: " << destinations.error().describe() << "\n";
    return exit_code_for(destinations.error());
  }

  render::TemplateSet templates(config.templates_dir);
  const std::string build_id = flow::new_build_id(clock.now());
  auto plan = flow::make_plan(config, spec, build_id, templates);
  if (!plan) {
    err << "sp-submit: " << plan.error().describe() << "\n";
    return exit_code_for(plan.error());
  }
  if (auto w = flow::write_plan(*plan); !w) {
    err << "sp-submit: " << w.error().describe() << "\n";
    return exit_code_for(w.error());
  }

  flow::FlowEngine engine(io, **sched, destinations->list(), flow::engine_options(config), clock);
  ProgressPrinter printer(out, options.wait);
  engine.set_observer(&printer);

  out << "build " << build_id << " of " << spec.full_name() << " on " << (*sched)->name() << ": "
      << plan->build_dir.string() << std::endl;
  engine.start(std::move(*plan));

  asio::signal_set signals(io, SIGINT, SIGTERM);
  int interrupts = 0;
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int) {
        if (ec) {
          return;
        }
        if (++interrupts > 1) {
          err << "sp-submit: interrupted again; leaving without waiting" << std::endl;
          io.stop();
          return;
        }
        err << "sp-submit: cancelling build " << build_id << " (interrupt again to leave now)"
            << std::endl;
        engine.cancel(build_id);
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);

  // Run until the build reaches a final state.
  asio::steady_timer watchdog(io);
  std::function<void()> check = [&] {
    if (engine.active() == 0) {
      signals.cancel();
      io.stop();
      return;
    }
    watchdog.expires_after(std::chrono::milliseconds(100));
    watchdog.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) {
        check();
      }
    });
  };
  check();
  io.run();

  const flow::BuildStatus* b = engine.find(build_id);
  if (!b || !flow::is_final(b->state)) {
    err << "sp-submit: left before build " << build_id << " ended" << std::endl;
    return k_exit_build_failed;
  }
  out << "build " << build_id << " " << flow::to_string(b->state);
  if (!b->error.empty()) {
    out << ": " << b->error;
  }
  out << std::endl;
  for (const auto& d : b->destinations) {
    out << "published to " << d.name << ": ";
    if (d.state == flow::DestinationState::published) {
      out << d.reference;
    } else {
      out << flow::to_string(d.state) << " after " << d.attempts << " attempt(s): " << d.error;
    }
    out << std::endl;
  }
  out << "logs: " << (b->build_dir / "logs").string() << std::endl;
  if (b->state != flow::BuildState::published) {
    // Show the end of the first stage that did not complete: usually the reason.
    for (const auto& st : b->stages) {
      if (st.state == scheduler::JobState::completed) {
        continue;
      }
      const auto log = b->build_dir / "logs" / (st.name + ".out");
      const std::string tail = tail_lines(read_tail(log, 16384), 15);
      if (!tail.empty()) {
        out << "--- last lines of " << log.string() << " ---\n" << tail;
        if (tail.back() != '\n') {
          out << "\n";
        }
      }
      break;
    }
  }
  return b->state == flow::BuildState::published ? k_exit_ok : k_exit_build_failed;
}

} // namespace softpack::cli
