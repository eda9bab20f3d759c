#include "cli/run_build.hpp"

#include "cli/common.hpp"
#include "cli/wiring.hpp"
#include "flow/engine.hpp"
#include "flow/plan.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"

#include <functional>
#include <iostream>
#include <optional>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

namespace softpack::cli {

namespace asio = boost::asio;

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

int run_build(const config::Config& config, const spec::ValidSpec& spec, const RunOptions& options,
              std::ostream& out, std::ostream& err) {
  spdlog::set_level(options.verbose ? spdlog::level::info : spdlog::level::warn);
  auto wired = wire(config);
  if (!wired) {
    err << "sp-submit: " << wired.error().describe() << "\n";
    return exit_code_for(wired.error());
  }
  asio::io_context& io = (*wired)->io;
  const Clock& clock = (*wired)->clock;
  scheduler::Scheduler& sched = *(*wired)->backends.scheduler;
  const auto destinations = (*wired)->backends.publishers();

  if (auto ok = flow::destinations_accept(destinations, spec); !ok) {
    err << "sp-submit: " << ok.error().describe() << "\n";
    return exit_code_for(ok.error());
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

  flow::FlowEngine engine(io, sched, destinations, flow::engine_options(config), clock);
  ProgressPrinter printer(out, options.wait);
  engine.set_observer(&printer);

  out << "build " << build_id << " of " << spec->full_name() << " on " << sched.name() << ": "
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
