#include "flow/stage_result.hpp"

#include "util/text.hpp"

#include <charconv>

namespace softpack::flow {

using scheduler::JobState;

namespace {
template <typename T> bool parse_number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}
} // namespace

Expected<StageResult> parse_stage_result(std::string_view text) {
  StageResult r;
  bool have_exit = false;
  for (auto line : split_lines(text)) {
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    const auto key = line.substr(0, eq);
    const auto value = line.substr(eq + 1);
    bool ok = true;
    if (key == "exit") {
      ok = parse_number(value, r.exit_code);
      have_exit = ok;
    } else if (key == "start") {
      ok = value.empty() || parse_number(value, r.start);
    } else if (key == "end") {
      ok = value.empty() || parse_number(value, r.end);
    } else if (key == "signal") {
      r.signal = std::string(value);
    } else if (key == "host") {
      r.host = std::string(value);
    }
    if (!ok) {
      return make_error(ErrorKind::invalid_input,
                        "bad value for '" + std::string(key) + "': '" + printable(value) + "'",
                        "result file");
    }
  }
  if (!have_exit) {
    return make_error(ErrorKind::invalid_input, "no exit status", "result file");
  }
  return r;
}

scheduler::JobInfo reconcile(scheduler::JobInfo info, const std::optional<StageResult>& result) {
  if (!result) {
    return info;
  }
  info.exit_code = result->exit_code;
  if (!info.started && result->start > 0) {
    info.started = from_unix_seconds(result->start);
  }
  if (result->end > 0) {
    info.ended = from_unix_seconds(result->end);
  }
  if (result->exit_code == 0) {
    info.state = JobState::completed;
    info.reason.clear();
    return info;
  }
  if (result->signal == "USR2") {
    info.state = JobState::timeout;
    if (info.reason.empty()) {
      info.reason = "time limit reached";
    }
    return info;
  }
  switch (info.state) {
  case JobState::timeout:
  case JobState::cancelled:
  case JobState::node_fail:
    return info; // the scheduler ended it and says why
  case JobState::pending:
  case JobState::running:
    // The script has ended but the scheduler is still finishing the job; it will say why
    // (time limit, cancellation) on a later poll.
    return info;
  default:
    break;
  }
  if (result->signal == "TERM") {
    // Terminated and the scheduler has forgotten why: a cancellation is the usual cause.
    info.state = JobState::cancelled;
    if (info.reason.empty()) {
      info.reason = "terminated (SIGTERM)";
    }
    return info;
  }
  info.state = JobState::failed;
  info.reason = "exit code " + std::to_string(result->exit_code);
  return info;
}

} // namespace softpack::flow
