#include "scheduler/slurm/slurm_parse.hpp"

#include "scheduler/delimited.hpp"
#include "util/text.hpp"

#include <charconv>
#include <ctime>

namespace softpack::scheduler::slurm {

const std::vector<StateMapping>& state_table() {
  // From squeue(1)/sacct(1) "JOB STATE CODES" (Slurm 22.05).
  static const std::vector<StateMapping> table{
      {"PENDING", "PD", JobState::pending},
      {"CONFIGURING", "CF", JobState::pending}, // nodes allocated, booting; script not started
      {"REQUEUED", "RQ", JobState::pending},
      {"REQUEUE_HOLD", "RH", JobState::pending},
      {"REQUEUE_FED", "RF", JobState::pending},
      {"RUNNING", "R", JobState::running},
      {"COMPLETING", "CG", JobState::running}, // the script has ended; epilogues run
      {"SUSPENDED", "S", JobState::running},
      {"STOPPED", "ST", JobState::running},
      {"RESIZING", "RS", JobState::running},
      {"SIGNALING", "SI", JobState::running},
      {"STAGE_OUT", "SO", JobState::running},
      {"COMPLETED", "CD", JobState::completed},
      {"FAILED", "F", JobState::failed},
      {"OUT_OF_MEMORY", "OOM", JobState::failed},
      {"SPECIAL_EXIT", "SE", JobState::failed},
      {"CANCELLED", "CA", JobState::cancelled},
      {"REVOKED", "RV", JobState::cancelled}, // a federated sibling ran instead
      {"TIMEOUT", "TO", JobState::timeout},
      {"DEADLINE", "DL", JobState::timeout},
      {"NODE_FAIL", "NF", JobState::node_fail},
      {"BOOT_FAIL", "BF", JobState::node_fail},
      {"PREEMPTED", "PR", JobState::node_fail},
  };
  return table;
}

JobState map_state(std::string_view native) {
  std::string_view s = trim(native);
  // "CANCELLED by 1000": the state is the first word.
  s = s.substr(0, s.find(' '));
  // sacct without -P truncates to the column width and marks it with '+'.
  const bool truncated = !s.empty() && s.back() == '+';
  if (truncated) {
    s.remove_suffix(1);
  }
  for (const auto& row : state_table()) {
    if (s == row.name || s == row.code) {
      return row.state;
    }
  }
  if (truncated && !s.empty()) {
    for (const auto& row : state_table()) {
      if (starts_with(row.name, s)) {
        return row.state;
      }
    }
  }
  return JobState::unknown;
}

namespace {

std::optional<SystemTime> parse_slurm_time(std::string_view s, const TimeZone& zone) {
  s = trim(s);
  if (s.empty() || s == "Unknown" || s == "None" || s == "N/A") {
    return std::nullopt;
  }
  CivilTime t;
  if (std::sscanf(std::string(s).c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &t.year, &t.month, &t.day,
                  &t.hour, &t.minute, &t.second) != 6) {
    return std::nullopt;
  }
  return zone.to_system(t); // sacct prints the cluster's local time
}

std::string clean_reason(std::string_view r) {
  r = trim(r);
  if (r == "None" || r == "(null)") {
    return {};
  }
  // squeue prints some reasons in parentheses.
  if (r.size() >= 2 && r.front() == '(' && r.back() == ')') {
    r = r.substr(1, r.size() - 2);
  }
  return std::string(r);
}

} // namespace

Expected<ExitStatus> parse_exit_code(std::string_view text) {
  text = trim(text);
  const auto bad = [&] {
    return make_error(ErrorKind::scheduler,
                      "not an exit code: '" + printable(text, 40) + "' (expected CODE:SIGNAL)",
                      "sacct");
  };
  const auto colon = text.find(':');
  const auto code_text = text.substr(0, colon);
  ExitStatus status;
  auto [p, ec] =
      std::from_chars(code_text.data(), code_text.data() + code_text.size(), status.code);
  if (ec != std::errc() || p != code_text.data() + code_text.size()) {
    return bad();
  }
  if (colon != std::string_view::npos) {
    const auto sig_text = text.substr(colon + 1);
    int s = 0;
    auto [q, ec2] = std::from_chars(sig_text.data(), sig_text.data() + sig_text.size(), s);
    if (ec2 != std::errc() || q != sig_text.data() + sig_text.size()) {
      return bad();
    }
    if (s != 0) {
      status.signal = s;
    }
  }
  return status;
}

Expected<JobId> parse_sbatch(std::string_view out) {
  // The id is on the last non-empty line; other lines (warnings) may come first.
  const auto lines = split_lines(out);
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    const auto line = trim(*it);
    if (line.empty()) {
      continue;
    }
    const auto id = line.substr(0, line.find(';'));
    if (all_digits(id)) {
      return JobId{std::string(id)};
    }
    break;
  }
  return make_error(ErrorKind::scheduler,
                    "no job id in output '" + printable(trim(out), 200) +
                        "' (expected '<id>' or '<id>;<cluster>')",
                    "sbatch --parsable");
}

Expected<std::vector<JobInfo>> parse_squeue(std::string_view out) {
  // Every field is written "Type:\x1f", so a record ends with the delimiter.
  auto records = split_records(out, "squeue", {5, true},
                               "JobID, State, Reason, exit_code, Name, each ending in \\x1f");
  if (!records) {
    return records.error();
  }
  std::vector<JobInfo> jobs;
  for (const auto& f : *records) {
    JobInfo info;
    info.id = JobId{std::string(trim(f[0]))};
    info.native_state = std::string(trim(f[1]));
    info.state = map_state(info.native_state);
    info.reason = clean_reason(f[2]);
    // squeue's exit_code is the raw wait status (768 = exit 3, 9 = SIGKILL), unlike sacct's
    // "code:signal". It shows 0 for jobs that never ran (cancelled while pending).
    int status = 0;
    const auto ec_text = trim(f[3]);
    auto [p, ec] = std::from_chars(ec_text.data(), ec_text.data() + ec_text.size(), status);
    if (ec == std::errc() && p == ec_text.data() + ec_text.size() && is_final(info.state) &&
        !(info.state == JobState::cancelled && status == 0)) {
      if ((status & 0x7f) != 0) {
        info.signal = status & 0x7f;
      } else {
        info.exit_code = (status >> 8) & 0xff;
      }
    }
    jobs.push_back(std::move(info));
  }
  return jobs;
}

Expected<std::vector<JobInfo>> parse_sacct(std::string_view out, const TimeZone& zone) {
  auto records = split_records(out, "sacct", {7, false},
                               "7 fields: JobIDRaw, State, ExitCode, Reason, Start, End, JobName");
  if (!records) {
    return records.error();
  }
  std::vector<JobInfo> jobs;
  for (const auto& f : *records) {
    JobInfo info;
    info.id = JobId{std::string(trim(f[0]))};
    info.native_state = std::string(trim(f[1]));
    info.state = map_state(info.native_state);
    info.reason = clean_reason(f[3]);
    if (starts_with(info.native_state, "CANCELLED by ")) {
      // Someone cancelled it: that is the reason, not the Dependency it may have waited for
      // before (which would make a cancelled running job look lost, see the engine).
      const bool stale = info.reason.empty() || info.reason.find("Dependency") != std::string::npos;
      info.reason = stale ? info.native_state : info.reason;
    }
    info.started = parse_slurm_time(f[4], zone);
    info.ended = parse_slurm_time(f[5], zone);
    if (info.native_state == "CANCELLED" && info.reason.find("Dependency") == std::string::npos) {
      // Accounting names whoever cancelled a job ("CANCELLED by 1000"), and Slurm's own cancel
      // of a job whose dependency failed has a Dependency reason. A plain CANCELLED without one
      // is Slurm closing the record of a job it no longer has: slurmctld started without its
      // state (slurmctld -c, a lost StateSaveLocation) ends so the jobs it had, and kills the
      // running ones. Nobody cancelled the build; its job was lost. (Such a record may also
      // carry the Dependency reason the job once waited for, and start and end are unreliable;
      // the engine tells those apart: they were seen running.)
      info.state = JobState::lost;
      info.reason = "Slurm ended the job without anyone cancelling it (accounting has it "
                    "CANCELLED by no user: the controller lost the job)";
    }
    // An exit code sacct cannot give (empty, as for some records) is left unknown.
    if (auto status = parse_exit_code(f[2]);
        status && !(info.state == JobState::cancelled && status->code == 0 && !status->signal)) {
      info.exit_code = status->code;
      info.signal = status->signal;
    }
    jobs.push_back(std::move(info));
  }
  return jobs;
}

Expected<std::vector<NamedJob>> parse_squeue_named(std::string_view out) {
  auto records =
      split_records(out, "squeue", {3, true}, "JobID, State, Comment, each ending in \\x1f");
  if (!records) {
    return records.error();
  }
  std::vector<NamedJob> jobs;
  for (const auto& f : *records) {
    jobs.push_back({JobId{std::string(trim(f[0]))}, map_state(f[1]), std::string(trim(f[2]))});
  }
  return jobs;
}

bool is_transient_error(std::string_view err) {
  for (std::string_view marker :
       {"Socket timed out", "Unable to contact slurm controller", "temporarily unable",
        "Zero Bytes were transmitted or received", "Connection refused", "Connection timed out",
        "Resource temporarily unavailable", "Slurm backup controller in standby mode",
        "Transport endpoint is not connected", "Communication connection failure",
        "slurmdbd: Connection", "Problem talking to the database", "Timeout"}) {
    if (err.find(marker) != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

bool is_invalid_job_id(std::string_view err) {
  return err.find("Invalid job id specified") != std::string_view::npos;
}

} // namespace softpack::scheduler::slurm
