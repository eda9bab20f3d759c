#include "scheduler/scheduler.hpp"

#include "util/text.hpp"

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

std::string job_comment(const JobSpec& spec) {
  if (spec.requested_by.empty()) {
    return spec.comment;
  }
  return spec.comment + " by " + printable(spec.requested_by, 100);
}

bool comment_names_build(std::string_view text, std::string_view build_id) {
  if (text == build_id) {
    return true;
  }
  constexpr std::string_view k_by = " by ";
  return !build_id.empty() && text.size() > build_id.size() + k_by.size() &&
         text.substr(0, build_id.size()) == build_id &&
         text.substr(build_id.size(), k_by.size()) == k_by;
}

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
