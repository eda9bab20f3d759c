#include "scheduler/lsf/lsf_scheduler.hpp"

#include "scheduler/lsf/lsf_parse.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <cstdlib>

#include <spdlog/spdlog.h>

extern char** environ;

namespace softpack::scheduler::lsf {

namespace {

const std::string k_u(1, k_delimiter);

std::vector<std::string> with_ids(std::vector<std::string> argv, std::span<const JobId> ids) {
  for (const auto& id : ids) {
    argv.push_back(id.value);
  }
  return argv;
}

constexpr std::string_view k_units[] = {"KB", "MB", "GB", "TB", "PB", "EB", "ZB"};

// How many megabytes one `unit` is, as a power of 1024 (KB = -1).
int unit_exponent(std::string_view unit) {
  for (std::size_t i = 0; i < std::size(k_units); ++i) {
    if (unit == k_units[i]) {
      return static_cast<int>(i) - 1;
    }
  }
  return 0; // validated by config: MB
}

} // namespace

std::string lsf_minutes(std::chrono::seconds limit) {
  const auto s = std::max<long long>(limit.count(), 1);
  return std::to_string((s + 59) / 60);
}

std::uint64_t memory_for_limit(std::uint64_t mb, std::string_view unit) {
  const int e = unit_exponent(unit);
  if (e < 0) {
    return mb * 1024;
  }
  std::uint64_t divisor = 1;
  for (int i = 0; i < e; ++i) {
    divisor *= 1024;
  }
  return std::max<std::uint64_t>(1, (mb + divisor - 1) / divisor);
}

std::uint64_t memory_for_resreq(std::uint64_t mb, std::string_view unit) {
  return unit_exponent(unit) < 0 ? mb : memory_for_limit(mb, unit);
}

std::string job_group(const JobSpec& spec, const LsfOptions& options) {
  std::string root = options.job_group_root;
  while (root.size() > 1 && root.back() == '/') {
    root.pop_back();
  }
  if (spec.comment.empty()) {
    return root;
  }
  return (root == "/" ? "" : root) + "/" + spec.comment;
}

std::vector<std::string> bsub_argv(const JobSpec& spec, const LsfOptions& options) {
  std::vector<std::string> argv{
      "bsub",
      "-J",
      spec.name,
      "-Jd",
      job_comment(spec),
      "-g",
      job_group(spec, options),
      "-cwd",
      spec.workdir.string(),
      // LSF's own output: its job report ("Sender: LSF System ..."), which it adds to the -o
      // file, and anything it says about the job (without -e, stderr goes to the -o file too).
      // The job's own output goes to the stage log by the redirection in bsub_stdin(), so the
      // log's last lines are the job's, not LSF's report.
      "-o",
      lsf_output_path(spec).string(),
  };
  // The job gets none of the submission environment: its script sets PATH and the rest.
  argv.insert(argv.end(), {"-env", "none"});
  const auto& r = spec.resources;
  if (!r.partition.empty()) {
    argv.insert(argv.end(), {"-q", r.partition});
  }
  if (!r.account.empty()) {
    argv.insert(argv.end(), {"-P", r.account});
  }
  argv.insert(argv.end(), {"-n", std::to_string(std::max(1, r.cpus))});
  if (r.time_limit.count() > 0) {
    argv.insert(argv.end(), {"-W", lsf_minutes(r.time_limit)});
  }
  std::string resreq = "span[hosts=1]";
  if (r.memory_mb > 0) {
    const std::string limit =
        std::to_string(memory_for_limit(r.memory_mb, options.unit_for_limits));
    const std::string req = std::to_string(memory_for_resreq(r.memory_mb, options.unit_for_limits));
    argv.insert(argv.end(), {"-M", limit});
    resreq = "select[mem>" + req + "] rusage[mem=" + req + "] " + resreq;
  }
  argv.insert(argv.end(), {"-R", resreq});
  if (!spec.after_ok.empty()) {
    std::string cond;
    for (const auto& id : spec.after_ok) {
      cond += (cond.empty() ? "" : " && ") + std::string("done(") + id.value + ")";
    }
    // -ti: a dependent whose condition can never be met (a parent failed) is terminated at once
    // instead of pending forever.
    argv.insert(argv.end(), {"-w", cond, "-ti"});
  }
  argv.insert(argv.end(), r.extra_args.begin(), r.extra_args.end());
  return argv;
}

std::filesystem::path lsf_output_path(const JobSpec& spec) {
  return spec.stdout_path.string() + ".lsf";
}

std::string bsub_stdin(const JobSpec& spec) {
  std::string line = "exec /bin/bash " + sh_quote(spec.script.string()) + " >" +
                     sh_quote(spec.stdout_path.string());
  if (spec.stderr_path.empty() || spec.stderr_path == spec.stdout_path) {
    line += " 2>&1";
  } else {
    line += " 2>" + sh_quote(spec.stderr_path.string());
  }
  return line + "\n";
}

std::vector<std::string> bjobs_argv(std::span<const JobId> ids, bool json) {
  if (json) {
    // -json conflicts with -noheader.
    return with_ids({"bjobs", "-a", "-json", "-o", std::string(k_poll_fields)}, ids);
  }
  return with_ids(
      {"bjobs", "-a", "-noheader", "-o", std::string(k_poll_fields) + " delimiter='" + k_u + "'"},
      ids);
}

std::vector<std::string> bjobs_name_argv(const std::string& name) {
  return {
      "bjobs", "-a", "-noheader", "-o", std::string(k_named_fields) + " delimiter='" + k_u + "'",
      "-J",    name};
}

std::vector<std::string> bhist_argv(std::span<const JobId> ids) {
  // -a: finished jobs too (bhist shows only unfinished ones by default).
  return with_ids({"bhist", "-a", "-l"}, ids);
}

std::vector<std::string> bkill_argv(std::span<const JobId> ids) {
  return with_ids({"bkill"}, ids);
}

std::map<std::string, std::string> bsub_environment(const JobSpec& spec) {
  std::map<std::string, std::string> env{{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                                         {"LANG", "C.UTF-8"},
                                         {"SOFTPACK_BUILD_ID", spec.comment}};
  for (char** e = environ; e && *e; ++e) {
    const std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string_view::npos && (starts_with(kv, "LSF_") || starts_with(kv, "LSB_"))) {
      env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
    }
  }
  for (const char* name : {"HOME", "USER", "LOGNAME"}) {
    if (const char* v = std::getenv(name)) {
      env[name] = v;
    }
  }
  return env;
}

Expected<LsfOptions> read_lsf_options(MapReader& section) {
  LsfOptions o;
  std::string json = "auto";
  SOFTPACK_TRY(section.duration("command_timeout", o.retry.command_timeout));
  SOFTPACK_TRY(section.integer("retries", o.retry.retries, 0, 100));
  SOFTPACK_TRY(section.string("unit_for_limits", o.unit_for_limits));
  SOFTPACK_TRY(section.string("json", json));
  SOFTPACK_TRY(section.string("job_group_root", o.job_group_root));
  static constexpr std::string_view k_units[] = {"KB", "MB", "GB", "TB", "PB", "EB", "ZB"};
  if (std::find(std::begin(k_units), std::end(k_units), o.unit_for_limits) == std::end(k_units)) {
    return section.error("unit_for_limits",
                         "'" + printable(o.unit_for_limits) +
                             "' is not an LSF unit (expected KB, MB, GB, TB, PB, EB or ZB, as "
                             "LSF_UNIT_FOR_LIMITS in lsf.conf)");
  }
  if (json == "auto") {
    o.json = JsonMode::detect;
  } else if (json == "true") {
    o.json = JsonMode::on;
  } else if (json == "false") {
    o.json = JsonMode::off;
  } else {
    return section.error("json", "expected auto, true or false, found '" + printable(json) + "'");
  }
  // A job group name: absolute, slash-separated words of letters, digits and ._-.
  const std::string& g = o.job_group_root;
  const bool ok = !g.empty() && g[0] == '/' && g.find("//") == std::string::npos &&
                  g.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789_.-/") == std::string::npos;
  if (!ok) {
    return section.error("job_group_root",
                         "'" + printable(g) +
                             "' is not a job group path (expected /name[/name...] of letters, "
                             "digits, '.', '_' and '-')");
  }
  if (g.size() > 1 && g.back() == '/') {
    o.job_group_root.pop_back();
  }
  if (o.retry.command_timeout.count() < 1) {
    return section.error("command_timeout", "must be at least 1s");
  }
  return o;
}

std::span<const std::string_view> bsub_managed_options() {
  static constexpr std::string_view k_options[] = {"-J", "-Jd", "-g",   "-cwd", "-o", "-oo",
                                                   "-e", "-eo", "-env", "-q",   "-P", "-n",
                                                   "-W", "-M",  "-R",   "-w",   "-ti"};
  return k_options;
}

LsfScheduler::LsfScheduler(CommandRunner& runner, LsfOptions options)
    : m_options(std::move(options)),
      m_commands(runner, m_options.retry, {"bsub", "bjobs", "bhist", "bkill"}, "bsub",
                 is_transient_error),
      m_json(m_options.json != JsonMode::off) {}

Expected<JobId> LsfScheduler::submit(const JobSpec& spec) {
  return m_commands.submit(
      {bsub_argv(spec, m_options), bsub_environment(spec), bsub_stdin(spec), "bsub " + spec.name},
      parse_bsub, [&] { return find_submitted(spec); });
}

Expected<std::map<std::string, JobInfo>> LsfScheduler::query_bjobs(std::span<const JobId> ids) {
  std::map<std::string, JobInfo> found;
  const bool json = m_json;
  auto r = m_commands.run(bjobs_argv(ids, json));
  if (!r) {
    return r.error();
  }
  if (json && m_options.json == JsonMode::detect &&
      (is_json_unsupported(r->err) || (r->ok() && !starts_with(trim(r->out), "{")))) {
    spdlog::info("bjobs does not take -json here ({}); using delimited output",
                 printable(trim(r->err.empty() ? r->out : r->err), 120));
    m_json = false;
    return query_bjobs(ids);
  }
  // bjobs exits non-zero when any id is unknown ("Job <N> is not found" on stderr) yet prints
  // the others; only other messages are failures.
  if (!r->ok() && (r->timed_out || !only_unknown_ids(r->err))) {
    return make_error(ErrorKind::scheduler, failure_summary(*r), "bjobs");
  }
  auto parsed = json ? parse_bjobs_json(r->out) : parse_bjobs(r->out);
  if (!parsed) {
    return parsed.error();
  }
  for (auto& info : *parsed) {
    found[info.id.value] = std::move(info);
  }
  return found;
}

Expected<std::vector<JobInfo>> LsfScheduler::poll(std::span<const JobId> ids) {
  std::vector<JobInfo> result;
  if (ids.empty()) {
    return result;
  }
  auto found = query_bjobs(ids);
  if (!found) {
    return found.error();
  }
  std::vector<JobId> missing;
  for (const auto& id : ids) {
    if (!found->count(id.value)) {
      missing.push_back(id);
    }
  }
  // bjobs forgets finished jobs after CLEAN_PERIOD; bhist reads the event log. A job just
  // submitted may not be visible to either yet: it stays unknown, which the caller tolerates.
  if (!missing.empty()) {
    auto h = m_commands.run(bhist_argv(missing));
    if (!h) {
      return h.error();
    }
    auto parsed = parse_bhist(h->out);
    if (!parsed) {
      return parsed.error();
    }
    if (!h->ok() && !only_unknown_ids(h->err)) {
      spdlog::warn("bhist: {}", failure_summary(*h));
    }
    for (auto& info : *parsed) {
      if (std::any_of(missing.begin(), missing.end(),
                      [&](const JobId& m) { return m.value == info.id.value; })) {
        (*found)[info.id.value] = std::move(info);
      }
    }
  }
  for (const auto& id : ids) {
    auto it = found->find(id.value);
    if (it != found->end()) {
      result.push_back(std::move(it->second));
    } else {
      JobInfo info;
      info.id = id;
      info.state = JobState::unknown;
      info.reason = "not known to bjobs or bhist";
      result.push_back(std::move(info));
    }
  }
  return result;
}

Expected<void> LsfScheduler::cancel(std::span<const JobId> ids) {
  if (ids.empty()) {
    return {};
  }
  auto r = m_commands.run(bkill_argv(ids));
  if (!r) {
    return r.error();
  }
  // bkill says "Job <N> is being terminated" per job, and exits non-zero when any job had
  // already finished or is unknown: neither is a failure here.
  if (r->ok() || (!r->timed_out && only_already_gone(r->out + "\n" + r->err))) {
    return {};
  }
  return make_error(ErrorKind::scheduler, failure_summary(*r), "bkill");
}

Expected<std::optional<JobId>> LsfScheduler::find_submitted(const JobSpec& spec) {
  auto r = m_commands.run(bjobs_name_argv(spec.name));
  if (!r) {
    return r.error();
  }
  if (!r->ok() && (r->timed_out || !only_unknown_ids(r->err))) {
    return make_error(ErrorKind::scheduler, failure_summary(*r), "bjobs -J");
  }
  auto jobs = parse_bjobs_named(r->out);
  if (!jobs) {
    return jobs.error();
  }
  std::optional<JobId> best;
  for (const auto& job : *jobs) {
    if (job.name == spec.name && comment_names_build(job.description, spec.comment) &&
        (!best || std::stoull(job.id.value) > std::stoull(best->value))) {
      best = job.id;
    }
  }
  return best;
}

} // namespace softpack::scheduler::lsf
