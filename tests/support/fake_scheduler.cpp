#include "support/fake_scheduler.hpp"

namespace softpack::testing {

using scheduler::JobId;
using scheduler::JobInfo;
using scheduler::JobSpec;
using scheduler::JobState;

Expected<JobId> FakeScheduler::submit(const JobSpec& spec) {
  std::lock_guard lock(m_mutex);
  ++m_submit_calls;
  if (!m_throw_on_submit_of.empty() && spec.name.find(m_throw_on_submit_of) != std::string::npos) {
    throw std::runtime_error("fake scheduler: submit threw for " + spec.name);
  }
  if (m_fail_submits > 0) {
    --m_fail_submits;
    return make_error(m_fail_submit_kind, "sbatch: error: fake submission failure", "fake");
  }
  for (const auto& dep : spec.after_ok) {
    if (!m_jobs.count(dep.value)) {
      return make_error(ErrorKind::invalid_input, "dependency on unknown job " + dep.value, "fake");
    }
  }
  m_specs.push_back(spec);
  JobInfo info;
  info.id = JobId{"fake-" + std::to_string(m_specs.size())};
  info.state = JobState::pending;
  info.native_state = "PENDING";
  info.reason = spec.after_ok.empty() ? "None" : "Dependency";
  m_jobs[info.id.value] = info;
  return info.id;
}

Expected<std::vector<JobInfo>> FakeScheduler::poll(std::span<const JobId> ids) {
  std::lock_guard lock(m_mutex);
  m_polls.emplace_back(ids.begin(), ids.end());
  if (m_throw_polls > 0) {
    --m_throw_polls;
    throw std::runtime_error("fake scheduler: poll threw");
  }
  if (m_fail_polls > 0) {
    --m_fail_polls;
    return make_error(ErrorKind::transient, "squeue: error: fake controller unreachable", "fake");
  }
  std::vector<JobInfo> out;
  for (const auto& id : ids) {
    auto it = m_jobs.find(id.value);
    if (it == m_jobs.end()) {
      JobInfo info;
      info.id = id;
      info.state = JobState::unknown;
      info.reason = "Invalid job id specified";
      out.push_back(info);
    } else {
      out.push_back(it->second);
    }
  }
  return out;
}

Expected<void> FakeScheduler::cancel(std::span<const JobId> ids) {
  std::lock_guard lock(m_mutex);
  m_cancels.emplace_back(ids.begin(), ids.end());
  if (m_throw_cancels > 0) {
    --m_throw_cancels;
    throw std::runtime_error("fake scheduler: cancel threw");
  }
  if (m_fail_cancels > 0) {
    --m_fail_cancels;
    return make_error(ErrorKind::transient, "scancel: error: fake controller unreachable", "fake");
  }
  if (m_cancel_ends_jobs) {
    for (const auto& id : ids) {
      auto it = m_jobs.find(id.value);
      if (it != m_jobs.end() && !scheduler::is_final(it->second.state)) {
        it->second.state = JobState::cancelled;
        it->second.native_state = "CANCELLED by 0";
        it->second.reason = "cancelled";
      }
    }
  }
  return {};
}

Expected<std::optional<JobId>> FakeScheduler::find_submitted(const JobSpec& spec) {
  std::lock_guard lock(m_mutex);
  ++m_find_calls;
  for (std::size_t i = m_specs.size(); i-- > 0;) {
    if (m_specs[i].name == spec.name && m_specs[i].comment == spec.comment) {
      return std::optional<JobId>(JobId{"fake-" + std::to_string(i + 1)});
    }
  }
  return std::optional<JobId>{};
}

void FakeScheduler::set_change_listener(std::function<void()> listener) {
  std::lock_guard lock(m_mutex);
  m_listener = std::move(listener);
}

void FakeScheduler::set_state(const JobId& id, JobState state, std::optional<int> exit_code,
                              std::string reason) {
  std::lock_guard lock(m_mutex);
  JobInfo& info = m_jobs[id.value];
  info.id = id;
  info.state = state;
  info.native_state = std::string(scheduler::to_string(state));
  info.exit_code = exit_code;
  info.reason = std::move(reason);
}

void FakeScheduler::forget(const JobId& id) {
  std::lock_guard lock(m_mutex);
  m_jobs.erase(id.value);
}

void FakeScheduler::fail_next_polls(int n) {
  std::lock_guard lock(m_mutex);
  m_fail_polls = n;
}

void FakeScheduler::fail_next_cancels(int n) {
  std::lock_guard lock(m_mutex);
  m_fail_cancels = n;
}

void FakeScheduler::fail_next_submits(int n, ErrorKind kind) {
  std::lock_guard lock(m_mutex);
  m_fail_submits = n;
  m_fail_submit_kind = kind;
}

void FakeScheduler::set_cancel_ends_jobs(bool yes) {
  std::lock_guard lock(m_mutex);
  m_cancel_ends_jobs = yes;
}

void FakeScheduler::notify() {
  std::function<void()> listener;
  {
    std::lock_guard lock(m_mutex);
    listener = m_listener;
  }
  if (listener) {
    listener();
  }
}

std::vector<JobSpec> FakeScheduler::submitted() const {
  std::lock_guard lock(m_mutex);
  return m_specs;
}

std::vector<JobId> FakeScheduler::submitted_ids() const {
  std::lock_guard lock(m_mutex);
  std::vector<JobId> ids;
  for (std::size_t i = 0; i < m_specs.size(); ++i) {
    ids.push_back(JobId{"fake-" + std::to_string(i + 1)});
  }
  return ids;
}

std::vector<std::vector<JobId>> FakeScheduler::poll_calls() const {
  std::lock_guard lock(m_mutex);
  return m_polls;
}

std::vector<std::vector<JobId>> FakeScheduler::cancel_calls() const {
  std::lock_guard lock(m_mutex);
  return m_cancels;
}

std::size_t FakeScheduler::submit_count() const {
  std::lock_guard lock(m_mutex);
  return m_submit_calls;
}

std::size_t FakeScheduler::poll_count() const {
  std::lock_guard lock(m_mutex);
  return m_polls.size();
}

std::size_t FakeScheduler::cancel_count() const {
  std::lock_guard lock(m_mutex);
  return m_cancels.size();
}

std::size_t FakeScheduler::find_count() const {
  std::lock_guard lock(m_mutex);
  return m_find_calls;
}

JobState FakeScheduler::state_of(const JobId& id) const {
  std::lock_guard lock(m_mutex);
  auto it = m_jobs.find(id.value);
  return it == m_jobs.end() ? JobState::unknown : it->second.state;
}

bool FakeScheduler::has_listener() const {
  std::lock_guard lock(m_mutex);
  return static_cast<bool>(m_listener);
}

void FakeScheduler::throw_on_submit_of(std::string text) {
  std::lock_guard lock(m_mutex);
  m_throw_on_submit_of = std::move(text);
}

void FakeScheduler::throw_next_polls(int n) {
  std::lock_guard lock(m_mutex);
  m_throw_polls = n;
}

void FakeScheduler::throw_next_cancels(int n) {
  std::lock_guard lock(m_mutex);
  m_throw_cancels = n;
}

} // namespace softpack::testing
