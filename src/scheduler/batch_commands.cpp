#include "scheduler/batch_commands.hpp"

#include "util/text.hpp"

#include <random>
#include <thread>

#include <spdlog/spdlog.h>

namespace softpack::scheduler {

std::string failure_summary(const CommandResult& r) {
  std::string text(trim(tail_lines(r.err, 3)));
  if (text.empty()) {
    text = std::string(trim(tail_lines(r.out, 3)));
  }
  return r.status_text() + (text.empty() ? "" : ": " + text);
}

BatchCommands::BatchCommands(CommandRunner& runner, RetryOptions options,
                             std::vector<std::string> programs, std::string submit_program,
                             std::function<bool(std::string_view)> is_transient)
    : m_runner(runner), m_options(std::move(options)), m_programs(std::move(programs)),
      m_counts(std::make_unique<std::atomic<std::size_t>[]>(m_programs.size())),
      m_submit_program(std::move(submit_program)), m_is_transient(std::move(is_transient)) {
  if (!m_options.sleep) {
    m_options.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  }
}

void BatchCommands::backoff(int attempt) const {
  static thread_local std::mt19937 rng{std::random_device{}()};
  const auto cap = m_options.retry_base * (1 << std::min(std::max(attempt, 1) - 1, 6));
  std::uniform_int_distribution<long> d(cap.count() / 2, cap.count());
  m_options.sleep(std::chrono::milliseconds(d(rng)));
}

std::size_t BatchCommands::count(std::string_view program) const {
  for (std::size_t i = 0; i < m_programs.size(); ++i) {
    if (m_programs[i] == program) {
      return m_counts[i];
    }
  }
  return 0;
}

Expected<CommandResult> BatchCommands::run(const std::vector<std::string>& argv,
                                           const std::map<std::string, std::string>* only_env,
                                           std::optional<std::string> stdin_data) {
  CommandOptions opts;
  opts.timeout = m_options.command_timeout;
  opts.stdin_data = std::move(stdin_data);
  if (only_env) {
    opts.clear_env = true;
    opts.env = *only_env;
  }
  const std::string& cmd = argv.front();
  Error last = make_error(ErrorKind::transient, "not run", cmd);
  for (int attempt = 0; attempt <= m_options.retries; ++attempt) {
    if (attempt > 0) {
      ++m_retries;
      backoff(attempt);
    }
    for (std::size_t i = 0; i < m_programs.size(); ++i) {
      if (m_programs[i] == cmd) {
        ++m_counts[i];
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto r = m_runner.run(argv, opts);
    m_micros +=
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    if (!r) {
      ++m_errors;
      return r.error(); // could not run at all (not installed): not worth retrying
    }
    const bool retryable =
        cmd != m_submit_program && (r->timed_out || (!r->ok() && m_is_transient(r->err)));
    if (!retryable) {
      if (!r->ok()) {
        ++m_errors;
      }
      return r;
    }
    ++m_errors;
    last = make_error(ErrorKind::transient, failure_summary(*r), cmd);
    spdlog::warn("{} failed transiently (attempt {}/{}): {}", cmd, attempt + 1,
                 m_options.retries + 1, last.message);
  }
  return last;
}

Expected<JobId>
BatchCommands::submit(const Submission& submission,
                      const std::function<Expected<JobId>(std::string_view out)>& parse_id,
                      const std::function<Expected<std::optional<JobId>>()>& find_existing) {
  for (int attempt = 0; attempt <= m_options.retries; ++attempt) {
    if (attempt > 0) {
      backoff(attempt);
    }
    auto r = run(submission.argv, &submission.env, submission.stdin_data);
    if (!r) {
      return r.error();
    }
    if (r->ok()) {
      // Messages on stderr ("Slurm temporarily unable to accept job, sleeping and retrying",
      // "Cannot connect to LSF. Please wait ...") are the command retrying by itself; what
      // counts is the id on stdout.
      return parse_id(r->out);
    }
    const bool unknown_outcome = r->timed_out || m_is_transient(r->err);
    if (!unknown_outcome) {
      return make_error(ErrorKind::scheduler, failure_summary(*r), submission.what);
    }
    auto existing = find_existing();
    if (existing && existing->has_value()) {
      spdlog::warn("{} failed ({}) but the job exists as {}", submission.what, failure_summary(*r),
                   (*existing)->value);
      return **existing;
    }
    spdlog::warn("{} failed transiently: {}", submission.what, failure_summary(*r));
  }
  return make_error(ErrorKind::transient, "could not submit after retries", submission.what);
}

std::string BatchCommands::metrics(std::string_view backend) const {
  std::string out = "# HELP softpack_scheduler_commands_total " + std::string(backend) +
                    " commands run, by command.\n"
                    "# TYPE softpack_scheduler_commands_total counter\n";
  for (std::size_t i = 0; i < m_programs.size(); ++i) {
    out += "softpack_scheduler_commands_total{command=\"" + m_programs[i] + "\"} " +
           std::to_string(m_counts[i].load()) + "\n";
  }
  out += "softpack_scheduler_command_errors_total " + std::to_string(m_errors) + "\n";
  out += "softpack_scheduler_command_retries_total " + std::to_string(m_retries) + "\n";
  out += "softpack_scheduler_command_seconds_total " +
         std::to_string(static_cast<double>(m_micros) / 1e6) + "\n";
  return out;
}

} // namespace softpack::scheduler
