#pragma once

// Running a batch system's commands for an adapter: each with a time limit, transient failures
// retried with exponential backoff and jitter, and counts per program for metrics.
//
// Thread-safe: it holds no mutable state besides atomic counters.

#include "scheduler/scheduler.hpp"
#include "util/command.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace softpack::scheduler {

struct RetryOptions {
  std::chrono::seconds command_timeout{60}; // per command
  int retries = 3;                          // for transient failures
  std::chrono::milliseconds retry_base{500};
  // How to wait between retries; tests replace it to run instantly.
  std::function<void(std::chrono::milliseconds)> sleep;
};

class BatchCommands {
public:
  // `programs`: the commands counted by name (argv[0]). `submit_program` is never retried here:
  // a timed-out submission may have created the job, so the adapter looks for it first.
  // `is_transient`: whether a failed command's stderr means "try again".
  BatchCommands(CommandRunner& runner, RetryOptions options, std::vector<std::string> programs,
                std::string submit_program, std::function<bool(std::string_view)> is_transient);

  // Runs argv (with `only_env` as the whole environment when given, and `stdin_data` on stdin),
  // retrying timeouts and transient failures. Returns the last result, which may be a failure
  // the caller interprets, or a `transient` error when all retries failed, or the runner's error
  // when the command could not be run at all.
  Expected<CommandResult> run(const std::vector<std::string>& argv,
                              const std::map<std::string, std::string>* only_env = nullptr,
                              std::optional<std::string> stdin_data = std::nullopt);
  // Waits before retry number `attempt` (1, 2, ...): exponential backoff, the delay drawn from
  // [cap/2, cap] where cap = retry_base * 2^(attempt-1) (at most 2^6).
  void backoff(int attempt) const;

  // A job's submission: the submit program's argv, the whole environment it runs with, what it
  // reads on stdin, and `what` for messages ("sbatch sp.alice.env-1.build").
  struct Submission {
    std::vector<std::string> argv;
    std::map<std::string, std::string> env;
    std::optional<std::string> stdin_data;
    std::string what;
  };
  // Submits, with up to `retries` more attempts. A submission whose outcome is unknown (timed
  // out, or failed with an error `is_transient` recognises) may have made the job, so before
  // trying again the job is looked up with `find_existing` and taken when found: a stage is
  // never submitted twice. `parse_id` reads the id from a successful submission's stdout.
  // Errors: scheduler (the submission was refused), transient (still unknown after every
  // retry), or the runner's error when the program could not run at all.
  Expected<JobId> submit(const Submission& submission,
                         const std::function<Expected<JobId>(std::string_view out)>& parse_id,
                         const std::function<Expected<std::optional<JobId>>()>& find_existing);

  std::size_t count(std::string_view program) const;
  std::size_t errors() const { return m_errors; }
  std::size_t retries() const { return m_retries; }
  // Prometheus lines: commands by name, errors, retries, seconds spent; `backend` names the
  // batch system in the help text.
  std::string metrics(std::string_view backend) const;

private:
  CommandRunner& m_runner;
  RetryOptions m_options;
  std::vector<std::string> m_programs;
  std::unique_ptr<std::atomic<std::size_t>[]> m_counts; // parallel to m_programs
  std::string m_submit_program;
  std::function<bool(std::string_view)> m_is_transient;
  std::atomic<std::size_t> m_errors{0}, m_retries{0};
  std::atomic<std::uint64_t> m_micros{0};
};

// The last lines of a failed command's stderr (or stdout), after its status: for messages.
std::string failure_summary(const CommandResult& r);

} // namespace softpack::scheduler
