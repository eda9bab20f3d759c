#pragma once

// A Scheduler whose jobs only change state when the test says so. It records every call's
// arguments, numbers jobs "fake-1", "fake-2"..., and can be told to fail the next polls,
// cancels or submits. By default cancel() ends every named job that has not ended as
// `cancelled`, as a real batch system would.
//
// Thread-safe: the engine calls it from its worker pool while the test scripts it.

#include "scheduler/scheduler.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace softpack::testing {

class FakeScheduler final : public scheduler::Scheduler {
public:
  std::string_view name() const override { return "fake"; }
  bool jobs_survive_service() const override { return m_jobs_survive; }
  // As the local executor: its jobs end with the service (resumed builds run them again).
  void set_jobs_survive_service(bool yes) { m_jobs_survive = yes; }
  Expected<scheduler::JobId> submit(const scheduler::JobSpec& spec) override;
  Expected<std::vector<scheduler::JobInfo>> poll(std::span<const scheduler::JobId> ids) override;
  Expected<void> cancel(std::span<const scheduler::JobId> ids) override;
  Expected<std::optional<scheduler::JobId>> find_submitted(const scheduler::JobSpec& spec) override;
  void set_change_listener(std::function<void()> listener) override;

  // Scripting.
  void set_state(const scheduler::JobId& id, scheduler::JobState state,
                 std::optional<int> exit_code = std::nullopt, std::string reason = {});
  // The scheduler forgets the job: polls answer `unknown`.
  void forget(const scheduler::JobId& id);
  void fail_next_polls(int n);
  void fail_next_cancels(int n);
  // The next n submissions fail with an error of `kind` (transient: the scheduler was
  // unreachable and the outcome is unknown).
  void fail_next_submits(int n, ErrorKind kind = ErrorKind::command);
  // Throw std::runtime_error, as a buggy adapter would: when a submitted job's name contains
  // `text`; in the next n polls; in the next n cancels.
  void throw_on_submit_of(std::string text);
  void throw_next_polls(int n);
  void throw_next_cancels(int n);
  // Whether cancel() ends the jobs (true) or only records the call (false).
  void set_cancel_ends_jobs(bool yes);
  // Calls the change listener, if any, on this thread.
  void notify();

  // Inspection.
  std::vector<scheduler::JobSpec> submitted() const; // in submission order; job i is "fake-<i+1>"
  std::vector<scheduler::JobId> submitted_ids() const;
  std::vector<std::vector<scheduler::JobId>> poll_calls() const;
  std::vector<std::vector<scheduler::JobId>> cancel_calls() const;
  std::size_t submit_count() const;
  std::size_t poll_count() const;
  std::size_t cancel_count() const;
  std::size_t find_count() const;
  scheduler::JobState state_of(const scheduler::JobId& id) const;
  bool has_listener() const;

private:
  mutable std::mutex m_mutex;
  std::vector<scheduler::JobSpec> m_specs;
  std::map<std::string, scheduler::JobInfo> m_jobs; // by id; forgotten jobs are erased
  std::vector<std::vector<scheduler::JobId>> m_polls;
  std::vector<std::vector<scheduler::JobId>> m_cancels;
  std::size_t m_submit_calls = 0;
  std::size_t m_find_calls = 0;
  int m_fail_polls = 0;
  int m_fail_cancels = 0;
  int m_fail_submits = 0;
  ErrorKind m_fail_submit_kind = ErrorKind::command;
  std::string m_throw_on_submit_of;
  int m_throw_polls = 0;
  int m_throw_cancels = 0;
  bool m_cancel_ends_jobs = true;
  bool m_jobs_survive = true;
  std::function<void()> m_listener;
};

} // namespace softpack::testing
