#include "scheduler/lsf/lsf_parse.hpp"

#include "scheduler/delimited.hpp"
#include "util/text.hpp"

#include <cctype>
#include <charconv>

#include <boost/json.hpp>

namespace softpack::scheduler::lsf {

namespace json = boost::json;

const std::vector<StateMapping>& state_table() {
  // The job states of bjobs(1) "Description" / "JOB STATES" (LSF 10.1), see
  // tests/fixtures/lsf/README.md.
  static const std::vector<StateMapping> table{
      {"PEND", JobState::pending, "waiting to be scheduled and dispatched"},
      {"PROV", JobState::pending, "dispatched to a host that is being provisioned"},
      {"PSUSP", JobState::pending,
       "suspended (held) by its owner or an administrator while pending"},
      {"WAIT", JobState::pending, "a chunk job member waiting to run"},
      {"RUN", JobState::running, "running"},
      {"USUSP", JobState::running, "suspended by its owner or an administrator while running"},
      {"SSUSP", JobState::running, "suspended by LSF (load, run window) while running"},
      // mbatchd lost contact with the job's host: the job may well still be running, and is not
      // failed until LSF says so.
      {"UNKWN", JobState::running, "its host is unreachable; still running as far as is known"},
      {"DONE", JobState::completed, "exited with status 0"},
      {"PDONE", JobState::completed, "done, and its post-execution processing succeeded"},
      {"EXIT", JobState::failed, "exited non-zero or was killed (see the termination reason)"},
      {"PEXIT", JobState::failed, "exited, and its post-execution processing failed"},
      // Killed while its host was unreachable, or requeued under a new id after its host died.
      {"ZOMBI", JobState::node_fail, "its host died or became unreachable while it was killed"},
  };
  return table;
}

const std::vector<TerminationMapping>& termination_table() {
  // "Termination reasons displayed by bacct, bhist, and bjobs" (LSF 10.1).
  static const std::vector<TerminationMapping> table{
      {"TERM_RUNLIMIT", JobState::timeout},
      {"TERM_DEADLINE", JobState::timeout},
      {"TERM_OWNER", JobState::cancelled},
      {"TERM_ADMIN", JobState::cancelled},
      {"TERM_FORCE_OWNER", JobState::cancelled},
      {"TERM_FORCE_ADMIN", JobState::cancelled},
      {"TERM_BUCKET_KILL", JobState::cancelled},
      {"TERM_REQUEUE_OWNER", JobState::cancelled},
      {"TERM_REQUEUE_ADMIN", JobState::cancelled},
      // bsub -ti: a dependency can never be satisfied (a parent failed), so LSF killed the job.
      {"TERM_ORPHAN_SYSTEM", JobState::cancelled},
      {"TERM_PREEMPT", JobState::node_fail},
      {"TERM_ZOMBIE", JobState::node_fail},
      {"TERM_REMOVE_HUNG_JOB", JobState::node_fail},
      {"TERM_RC_RECLAIM", JobState::node_fail},
      {"TERM_CTRL_PID", JobState::node_fail},
      {"TERM_MC_RECALL", JobState::node_fail},
      {"TERM_WINDOW", JobState::node_fail},
      {"TERM_LOAD", JobState::node_fail},
      {"TERM_MEMLIMIT", JobState::failed},
      {"TERM_CPULIMIT", JobState::failed},
      {"TERM_SWAP", JobState::failed},
      {"TERM_PROCESSLIMIT", JobState::failed},
      {"TERM_THREADLIMIT", JobState::failed},
      {"TERM_CWD_NOTEXIST", JobState::failed},
      {"TERM_PRE_EXEC_FAIL", JobState::failed},
      {"TERM_EXTERNAL_SIGNAL", JobState::failed},
      {"TERM_DATA", JobState::failed},
      {"TERM_CHKPNT", JobState::failed},
      {"TERM_UNKNOWN", JobState::failed},
  };
  return table;
}

namespace {

// "TERM_RUNLIMIT: job killed after ..." -> "TERM_RUNLIMIT"; anything else -> "".
std::string_view termination_keyword(std::string_view reason) {
  reason = trim(reason);
  if (!starts_with(reason, "TERM_")) {
    return {};
  }
  std::size_t end = 0;
  while (end < reason.size() &&
         (std::isupper(static_cast<unsigned char>(reason[end])) || reason[end] == '_' ||
          std::isdigit(static_cast<unsigned char>(reason[end])))) {
    ++end;
  }
  return reason.substr(0, end);
}

// bjobs -o prints "-" for an empty field (JSON: "").
std::string field(std::string_view s) {
  s = trim(s);
  return s == "-" ? std::string() : std::string(s);
}

std::string clean_pend_reason(std::string_view r) {
  std::string s = field(r);
  while (!s.empty() && (s.back() == ';' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

std::optional<int> to_int(std::string_view s) {
  s = trim(s);
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

JobInfo make_info(std::string_view id, std::string_view stat, std::string_view exit_code,
                  std::string_view exit_reason, std::string_view pend_reason) {
  JobInfo info;
  info.id = JobId{std::string(trim(id))};
  info.native_state = std::string(trim(stat));
  const std::string reason = field(exit_reason);
  info.state = map_state(info.native_state, reason);
  switch (info.state) {
  case JobState::pending:
    info.reason = clean_pend_reason(pend_reason);
    break;
  case JobState::completed:
    info.exit_code = 0; // bjobs shows "-" for DONE
    break;
  default:
    info.reason = reason;
    if (is_final(info.state)) {
      info.exit_code = to_int(field(exit_code)); // "-" when it never ran
    }
    break;
  }
  return info;
}

std::string_view string_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// "Job <123> ..." -> "123" (empty when the line does not start so).
std::string_view job_id_of_line(std::string_view line) {
  line = trim(line);
  if (!starts_with(line, "Job <")) {
    return {};
  }
  line.remove_prefix(5);
  const auto end = line.find('>');
  if (end == std::string_view::npos || !all_digits(line.substr(0, end))) {
    return {};
  }
  return line.substr(0, end);
}

// The number right after `marker` in `text`, if any.
std::optional<int> number_after(std::string_view text, std::string_view marker) {
  const auto at = text.find(marker);
  if (at == std::string_view::npos) {
    return std::nullopt;
  }
  auto rest = text.substr(at + marker.size());
  std::size_t len = 0;
  while (len < rest.size() && std::isdigit(static_cast<unsigned char>(rest[len]))) {
    ++len;
  }
  return to_int(rest.substr(0, len));
}

} // namespace

JobState map_state(std::string_view stat, std::string_view exit_reason) {
  stat = trim(stat);
  for (const auto& row : state_table()) {
    if (stat != row.name) {
      continue;
    }
    if (row.state == JobState::failed) {
      const auto keyword = termination_keyword(exit_reason);
      for (const auto& t : termination_table()) {
        if (t.keyword == keyword) {
          return t.state;
        }
      }
    }
    return row.state;
  }
  return JobState::unknown;
}

Expected<JobId> parse_bsub(std::string_view out) {
  for (auto line : split_lines(out)) {
    const auto id = job_id_of_line(line);
    if (id.empty()) {
      continue;
    }
    const auto rest = trim(line).substr(5 + id.size() + 1);
    if (starts_with(rest, " is submitted to queue <") ||
        starts_with(rest, " is submitted to default queue <")) {
      return JobId{std::string(id)};
    }
  }
  return make_error(ErrorKind::scheduler,
                    "no job id in output '" + printable(trim(out), 200) +
                        "' (expected 'Job <id> is submitted to [default ]queue <name>.')",
                    "bsub");
}

Expected<std::vector<JobInfo>> parse_bjobs(std::string_view out) {
  auto records = split_records(
      out, "bjobs", {5},
      "5 fields separated by \\x1f: JOBID, STAT, EXIT_CODE, EXIT_REASON, PEND_REASON");
  if (!records) {
    return records.error();
  }
  std::vector<JobInfo> jobs;
  for (const auto& f : *records) {
    jobs.push_back(make_info(f[0], f[1], f[2], f[3], f[4]));
  }
  return jobs;
}

Expected<std::vector<JobInfo>> parse_bjobs_json(std::string_view out) {
  const auto fail = [&](const std::string& what) -> Error {
    return make_error(ErrorKind::scheduler,
                      what + " in '" + printable(trim(out), 200) +
                          "' (expected {\"COMMAND\":\"bjobs\",\"JOBS\":n,\"RECORDS\":[{\"JOBID\":"
                          "\"123\",\"STAT\":\"RUN\",...}]})",
                      "bjobs -json");
  };
  json::parse_options options;
  options.max_depth = 8;
  json::parser parser(json::storage_ptr(), options);
  boost::system::error_code ec;
  const std::size_t consumed = parser.write(out.data(), out.size(), ec);
  if (ec) {
    return fail("not valid JSON (" + ec.message() + " at offset " + std::to_string(consumed) + ")");
  }
  const json::value root = parser.release();
  const json::object* obj = root.if_object();
  const json::value* records = obj ? obj->if_contains("RECORDS") : nullptr;
  if (!records || !records->is_array()) {
    return fail("no RECORDS array");
  }
  std::vector<JobInfo> jobs;
  std::size_t n = 0;
  for (const auto& rec : records->get_array()) {
    ++n;
    const json::object* r = rec.if_object();
    if (!r) {
      return fail("record " + std::to_string(n) + " is not an object");
    }
    if (r->contains("ERROR")) {
      continue; // "Job <N> is not found"
    }
    const auto id = string_member(*r, "JOBID");
    const auto stat = string_member(*r, "STAT");
    if (!all_digits(id) || stat.empty()) {
      return fail("record " + std::to_string(n) + " has no numeric JOBID and STAT");
    }
    jobs.push_back(make_info(id, stat, string_member(*r, "EXIT_CODE"),
                             string_member(*r, "EXIT_REASON"), string_member(*r, "PEND_REASON")));
  }
  return jobs;
}

Expected<std::vector<NamedJob>> parse_bjobs_named(std::string_view out) {
  auto records = split_records(
      out, "bjobs", {4}, "4 fields separated by \\x1f: JOBID, STAT, JOB_NAME, JOB_DESCRIPTION");
  if (!records) {
    return records.error();
  }
  std::vector<NamedJob> jobs;
  for (const auto& f : *records) {
    jobs.push_back({JobId{std::string(trim(f[0]))}, map_state(f[1]), field(f[2]), field(f[3])});
  }
  return jobs;
}

Expected<std::vector<JobInfo>> parse_bhist(std::string_view out) {
  // Each job's history starts with "Job <N>, ..."; LSF wraps lines at 80 columns, even inside
  // words, and indents the continuation. The events are matched with all whitespace removed, so
  // wherever a line was wrapped does not matter.
  struct Block {
    std::string id;
    std::string squashed;
  };
  std::vector<Block> blocks;
  for (auto line : split_lines(out)) {
    const auto id = job_id_of_line(line);
    if (!id.empty() && !std::isspace(static_cast<unsigned char>(line.empty() ? 'x' : line[0]))) {
      blocks.push_back({std::string(id), {}});
    }
    if (blocks.empty()) {
      continue; // "No matching job found" and such before any job
    }
    for (char c : line) {
      if (!std::isspace(static_cast<unsigned char>(c))) {
        blocks.back().squashed += c;
      }
    }
    blocks.back().squashed += '\n'; // keeps "...seconds.\nMon Nov 23..." apart
  }
  std::vector<JobInfo> jobs;
  for (const auto& b : blocks) {
    // Undo the wrapping for matching: continuation lines were joined by the '\n' we added.
    std::string text;
    for (char c : b.squashed) {
      if (c != '\n') {
        text += c;
      }
    }
    JobInfo info;
    info.id = JobId{b.id};
    std::string reason;
    if (const auto at = text.find("Completed<exit>;"); at != std::string::npos) {
      std::string_view rest = std::string_view(text).substr(at + 16);
      reason = std::string(termination_keyword(rest));
    }
    const bool done = contains(text, "Donesuccessfully") || contains(text, "Completed<done>");
    const bool exited = contains(text, "Exitedwithexitcode") || contains(text, "Exitedbysignal") ||
                        contains(text, "Completed<exit>") || contains(text, "Exited;");
    if (done && !exited) {
      info.native_state = "DONE";
      info.exit_code = 0;
    } else if (exited) {
      info.native_state = "EXIT";
      info.reason = reason;
      info.exit_code = number_after(text, "Exitedwithexitcode");
      info.signal = number_after(text, "Exitedbysignal");
    } else if (contains(text, "Starting(Pid") || contains(text, "Runningwith") ||
               contains(text, "Dispatchedto") || contains(text, "Startedon")) {
      info.native_state = "RUN";
    } else {
      info.native_state = "PEND";
    }
    info.state = map_state(info.native_state, reason);
    jobs.push_back(std::move(info));
  }
  return jobs;
}

std::vector<std::string> not_found_ids(std::string_view stderr_text) {
  std::vector<std::string> ids;
  for (auto line : split_lines(stderr_text)) {
    const auto id = job_id_of_line(line);
    if (!id.empty() && contains(line, "is not found")) {
      ids.emplace_back(id);
    }
  }
  return ids;
}

bool only_unknown_ids(std::string_view stderr_text) {
  for (auto line : split_lines(stderr_text)) {
    line = trim(line);
    if (line.empty() || line == "No job found" || line == "No unfinished job found" ||
        line == "No matching job found") {
      continue;
    }
    if (!job_id_of_line(line).empty() && contains(line, "is not found")) {
      continue;
    }
    return false;
  }
  return true;
}

bool only_already_gone(std::string_view bkill_output) {
  for (auto line : split_lines(bkill_output)) {
    line = trim(line);
    if (line.empty() || contains(line, "is being terminated") ||
        contains(line, "is being signaled") || contains(line, "Job has already finished") ||
        contains(line, "No matching job found")) {
      continue;
    }
    return false;
  }
  return true;
}

bool is_transient_error(std::string_view err) {
  for (std::string_view marker :
       {"Please wait", "not responding", "LSF is down", "try again later", "Timeout", "timed out",
        "Connection refused", "Cannot connect", "Communication time out", "LIM is down",
        "not ready yet", "Resource temporarily unavailable", "concurrent query limit exceeded",
        "Failed in sending/receiving a message"}) {
    if (contains(err, marker)) {
      return true;
    }
  }
  return false;
}

bool is_json_unsupported(std::string_view err) {
  const std::string lower = to_lower(err);
  return contains(lower, "json") &&
         (contains(lower, "illegal") || contains(lower, "unknown") || contains(lower, "invalid") ||
          contains(lower, "not supported") || contains(lower, "usage"));
}

} // namespace softpack::scheduler::lsf
