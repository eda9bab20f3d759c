#include "scheduler/slurm/slurm_scheduler.hpp"

#include "scheduler/slurm/slurm_parse.hpp"
#include "util/text.hpp"

#include <cstdio>
#include <map>

#include <spdlog/spdlog.h>

namespace softpack::scheduler::slurm {

namespace {

const std::string k_u(1, k_delimiter);

std::string id_list(std::span<const JobId> ids) {
  std::string out;
  for (const auto& id : ids) {
    if (!out.empty()) {
      out += ',';
    }
    out += id.value;
  }
  return out;
}

} // namespace

std::string slurm_time(std::chrono::seconds limit) {
  auto s = limit.count();
  if (s <= 0) {
    s = 60;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%lld-%02lld:%02lld:%02lld", static_cast<long long>(s / 86400),
                static_cast<long long>(s % 86400 / 3600), static_cast<long long>(s % 3600 / 60),
                static_cast<long long>(s % 60));
  return buf;
}

std::vector<std::string> sbatch_argv(const JobSpec& spec, const SlurmOptions& options) {
  std::vector<std::string> argv{
      "sbatch",
      "--parsable",
      "--job-name=" + spec.name,
      "--comment=" + job_comment(spec),
      "--chdir=" + spec.workdir.string(),
      "--output=" + spec.stdout_path.string(),
      "--error=" + (spec.stderr_path.empty() ? spec.stdout_path : spec.stderr_path).string(),
      // The job gets exactly the environment sbatch runs with, and sbatch runs with a minimal
      // one (sbatch_environment()), so nothing of this daemon's environment leaks into jobs.
      // --export=NONE (or a list of variables) would also keep it out, but makes Slurm 22.05
      // load the user's login environment on the node first: seconds per job and the user's
      // dotfiles in the job (docs/performance.md).
      "--export=ALL",
      options.requeue ? "--requeue" : "--no-requeue",
  };
  if (!spec.after_ok.empty()) {
    std::string dep = "--dependency=afterok";
    for (const auto& id : spec.after_ok) {
      dep += ":" + id.value;
    }
    argv.push_back(dep);
    // A dependency that can never be satisfied cancels the job instead of leaving it pending.
    argv.push_back("--kill-on-invalid-dep=yes");
  }
  const auto& r = spec.resources;
  if (!r.partition.empty()) {
    argv.push_back("--partition=" + r.partition);
  }
  if (!r.account.empty()) {
    argv.push_back("--account=" + r.account);
  }
  if (!r.qos.empty()) {
    argv.push_back("--qos=" + r.qos);
  }
  if (r.time_limit.count() > 0) {
    argv.push_back("--time=" + slurm_time(r.time_limit));
  }
  if (r.memory_mb > 0) {
    argv.push_back("--mem=" + std::to_string(r.memory_mb) + "M");
  }
  argv.push_back("--cpus-per-task=" + std::to_string(std::max(1, r.cpus)));
  if (options.timeout_signal.count() > 0) {
    argv.push_back("--signal=B:USR2@" + std::to_string(options.timeout_signal.count()));
  }
  argv.insert(argv.end(), r.extra_args.begin(), r.extra_args.end());
  argv.push_back(spec.script.string());
  return argv;
}

std::vector<std::string> squeue_argv(std::span<const JobId> ids) {
  return {"squeue", "--noheader", "--states=all", "--jobs=" + id_list(ids),
          "--Format=JobID:" + k_u + ",State:" + k_u + ",Reason:" + k_u + ",exit_code:" + k_u +
              ",Name:" + k_u};
}

std::vector<std::string> sacct_argv(std::span<const JobId> ids) {
  return {"sacct",
          "--allocations",
          "--parsable2",
          "--noheader",
          "--delimiter=" + k_u,
          "--jobs=" + id_list(ids),
          "--format=JobIDRaw,State,ExitCode,Reason,Start,End,JobName"};
}

std::vector<std::string> scancel_argv(std::span<const JobId> ids) {
  std::vector<std::string> argv{"scancel"};
  for (const auto& id : ids) {
    argv.push_back(id.value);
  }
  return argv;
}

std::vector<std::string> squeue_name_argv(const std::string& name) {
  return {"squeue", "--noheader", "--states=all", "--name=" + name,
          "--Format=JobID:" + k_u + ",State:" + k_u + ",Comment:" + k_u};
}

namespace {
RetryOptions retry_options(const SlurmOptions& o) {
  RetryOptions r;
  r.command_timeout = o.command_timeout;
  r.retries = o.retries;
  r.retry_base = o.retry_base;
  r.sleep = o.sleep;
  return r;
}
} // namespace

Expected<SlurmOptions> read_slurm_options(MapReader& section) {
  SlurmOptions o;
  SOFTPACK_TRY(section.boolean("requeue", o.requeue));
  SOFTPACK_TRY(section.duration("timeout_signal", o.timeout_signal));
  SOFTPACK_TRY(section.duration("command_timeout", o.command_timeout));
  SOFTPACK_TRY(section.integer("retries", o.retries, 0, 100));
  return o;
}

std::span<const std::string_view> sbatch_managed_options() {
  static constexpr std::string_view k_options[] = {"-J",
                                                   "--job-name",
                                                   "-o",
                                                   "--output",
                                                   "-e",
                                                   "--error",
                                                   "-d",
                                                   "--dependency",
                                                   "--export",
                                                   "--comment",
                                                   "--kill-on-invalid-dep",
                                                   "--requeue",
                                                   "--no-requeue",
                                                   "-p",
                                                   "--partition",
                                                   "-A",
                                                   "--account",
                                                   "-q",
                                                   "--qos",
                                                   "-t",
                                                   "--time",
                                                   "--mem",
                                                   "-c",
                                                   "--cpus-per-task",
                                                   "-D",
                                                   "--chdir",
                                                   "--parsable",
                                                   "--wrap"};
  return k_options;
}

SlurmScheduler::SlurmScheduler(CommandRunner& runner, SlurmOptions options)
    : m_options(std::move(options)),
      m_commands(runner, retry_options(m_options), {"sbatch", "squeue", "sacct", "scancel"},
                 "sbatch", is_transient_error) {}

std::map<std::string, std::string> sbatch_environment(const JobSpec& spec) {
  std::map<std::string, std::string> env{{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                                         {"LANG", "C.UTF-8"},
                                         {"SOFTPACK_BUILD_ID", spec.comment}};
  // What sbatch itself needs to reach the cluster, and who the user is.
  for (const char* name : {"SLURM_CONF", "HOME", "USER", "LOGNAME"}) {
    if (const char* v = std::getenv(name)) {
      env[name] = v;
    }
  }
  return env;
}

Expected<JobId> SlurmScheduler::submit(const JobSpec& spec) {
  return m_commands.submit(
      {sbatch_argv(spec, m_options), sbatch_environment(spec), std::nullopt, "sbatch " + spec.name},
      parse_sbatch, [&] { return find_submitted(spec); });
}

Expected<std::vector<JobInfo>> SlurmScheduler::poll(std::span<const JobId> ids) {
  std::vector<JobInfo> result;
  if (ids.empty()) {
    return result;
  }
  auto sq = m_commands.run(squeue_argv(ids));
  if (!sq) {
    return sq.error();
  }
  std::map<std::string, JobInfo> found;
  if (sq->ok()) {
    auto parsed = parse_squeue(sq->out);
    if (!parsed) {
      return parsed.error();
    }
    for (auto& info : *parsed) {
      found[info.id.value] = std::move(info);
    }
  } else if (!is_invalid_job_id(sq->err)) {
    // squeue exits 1 with "Invalid job id specified" when none of the ids is known any more;
    // anything else is a failure to report.
    return make_error(ErrorKind::scheduler, failure_summary(*sq), "squeue");
  }
  std::vector<JobId> missing;
  for (const auto& id : ids) {
    if (!found.count(id.value)) {
      missing.push_back(id);
    }
  }
  if (!missing.empty()) {
    auto sa = m_commands.run(sacct_argv(missing));
    if (!sa) {
      return sa.error();
    }
    if (sa->ok()) {
      auto parsed = parse_sacct(sa->out, m_options.time_zone);
      if (!parsed) {
        return parsed.error();
      }
      for (auto& info : *parsed) {
        found[info.id.value] = std::move(info);
      }
    } else {
      // Accounting may be off or down: jobs stay unknown, and their result files decide.
      spdlog::warn("sacct: {}", failure_summary(*sa));
    }
  }
  for (const auto& id : ids) {
    auto it = found.find(id.value);
    if (it != found.end()) {
      result.push_back(std::move(it->second));
    } else {
      JobInfo info;
      info.id = id;
      info.state = JobState::unknown;
      info.reason = "not known to squeue or sacct";
      result.push_back(std::move(info));
    }
  }
  return result;
}

Expected<void> SlurmScheduler::cancel(std::span<const JobId> ids) {
  if (ids.empty()) {
    return {};
  }
  auto r = m_commands.run(scancel_argv(ids));
  if (!r) {
    return r.error();
  }
  if (r->ok() || is_invalid_job_id(r->err) ||
      r->err.find("already completing or completed") != std::string::npos) {
    return {};
  }
  return make_error(ErrorKind::scheduler, failure_summary(*r), "scancel");
}

Expected<std::optional<JobId>> SlurmScheduler::find_submitted(const JobSpec& spec) {
  auto r = m_commands.run(squeue_name_argv(spec.name));
  if (!r) {
    return r.error();
  }
  if (!r->ok()) {
    return make_error(ErrorKind::scheduler, failure_summary(*r), "squeue --name");
  }
  auto jobs = parse_squeue_named(r->out);
  if (!jobs) {
    return jobs.error();
  }
  std::optional<JobId> best;
  for (const auto& job : *jobs) {
    if (comment_names_build(job.comment, spec.comment) &&
        (!best || std::stoull(job.id.value) > std::stoull(best->value))) {
      best = job.id;
    }
  }
  return best;
}

} // namespace softpack::scheduler::slurm
