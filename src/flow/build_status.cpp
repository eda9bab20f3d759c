#include "flow/build_status.hpp"

namespace softpack::flow {

std::string_view to_string(BuildState state) {
  switch (state) {
  case BuildState::queued:
    return "queued";
  case BuildState::submitting:
    return "submitting";
  case BuildState::running:
    return "running";
  case BuildState::publishing:
    return "publishing";
  case BuildState::published:
    return "published";
  case BuildState::failed:
    return "failed";
  case BuildState::cancelled:
    return "cancelled";
  }
  return "unknown";
}

std::optional<BuildState> build_state_from_string(std::string_view text) {
  for (auto s :
       {BuildState::queued, BuildState::submitting, BuildState::running, BuildState::publishing,
        BuildState::published, BuildState::failed, BuildState::cancelled}) {
    if (to_string(s) == text) {
      return s;
    }
  }
  return std::nullopt;
}

std::string_view to_string(DestinationState state) {
  switch (state) {
  case DestinationState::pending:
    return "pending";
  case DestinationState::published:
    return "published";
  case DestinationState::failed:
    return "failed";
  }
  return "unknown";
}

std::optional<DestinationState> destination_state_from_string(std::string_view text) {
  for (auto s :
       {DestinationState::pending, DestinationState::published, DestinationState::failed}) {
    if (to_string(s) == text) {
      return s;
    }
  }
  return std::nullopt;
}

// Whether a stage's exit code says something. Slurm reports 0 for a job it ended itself (a node
// failure, a cancellation) before or without the script's own result: "node_fail, exit code 0"
// would read as if the script had succeeded.
bool meaningful_exit_code(const StageStatus& st) {
  return st.exit_code && (*st.exit_code != 0 || st.state == scheduler::JobState::completed);
}

bool is_final(BuildState state) {
  return state == BuildState::published || state == BuildState::failed ||
         state == BuildState::cancelled;
}

} // namespace softpack::flow
