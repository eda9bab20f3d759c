#include "scheduler/scheduler.hpp"

#include <array>
#include <utility>

namespace softpack::scheduler {

namespace {
constexpr std::array<std::pair<JobState, std::string_view>, 9> k_state_names{{
    {JobState::pending, "pending"},
    {JobState::running, "running"},
    {JobState::completed, "completed"},
    {JobState::failed, "failed"},
    {JobState::cancelled, "cancelled"},
    {JobState::timeout, "timeout"},
    {JobState::node_fail, "node_fail"},
    {JobState::lost, "lost"},
    {JobState::unknown, "unknown"},
}};
} // namespace

std::string_view to_string(JobState state) {
  for (const auto& [s, name] : k_state_names) {
    if (s == state) {
      return name;
    }
  }
  return "unknown";
}

std::optional<JobState> job_state_from_string(std::string_view s) {
  for (const auto& [state, name] : k_state_names) {
    if (name == s) {
      return state;
    }
  }
  return std::nullopt;
}

bool is_final(JobState state) {
  switch (state) {
  case JobState::completed:
  case JobState::failed:
  case JobState::cancelled:
  case JobState::timeout:
  case JobState::node_fail:
  case JobState::lost:
    return true;
  case JobState::pending:
  case JobState::running:
  case JobState::unknown:
    return false;
  }
  return false;
}

} // namespace softpack::scheduler
