#include "scheduler/slurm/slurm_scheduler.hpp"

#include "scheduler/slurm/slurm_parse.hpp"
#include "util/text.hpp"

#include <cstdio>
#include <map>
#include <random>
#include <thread>

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

std::string stderr_summary(const CommandResult& r) {
  std::string text(trim(tail_lines(r.err, 3)));
  if (text.empty()) {
    text = std::string(trim(tail_lines(r.out, 3)));
  }
  return r.status_text() + (text.empty() ? "" : ": " + text);
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
      "--comment=" + spec.comment,
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

SlurmScheduler::SlurmScheduler(CommandRunner& runner, SlurmOptions options)
    : m_runner(runner), m_options(std::move(options)) {
  if (!m_options.sleep) {
    m_options.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  }
}

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

Expected<CommandResult> SlurmScheduler::run(const std::vector<std::string>& argv,
                                            const std::map<std::string, std::string>* only_env) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  CommandOptions opts;
  opts.timeout = m_options.command_timeout;
  if (only_env) {
    opts.clear_env = true;
    opts.env = *only_env;
  }
  const std::string& cmd = argv.front();
  auto count = [&] {
    if (cmd == "sbatch") {
      ++m_counts.sbatch;
    } else if (cmd == "squeue") {
      ++m_counts.squeue;
    } else if (cmd == "sacct") {
      ++m_counts.sacct;
    } else if (cmd == "scancel") {
      ++m_counts.scancel;
    }
  };
  Error last = make_error(ErrorKind::transient, "not run", cmd);
  for (int attempt = 0; attempt <= m_options.retries; ++attempt) {
    if (attempt > 0) {
      ++m_counts.retries;
      // Exponential backoff with full jitter.
      const auto cap = m_options.retry_base * (1 << std::min(attempt - 1, 6));
      std::uniform_int_distribution<long> d(cap.count() / 2, cap.count());
      m_options.sleep(std::chrono::milliseconds(d(rng)));
    }
    count();
    const auto t0 = std::chrono::steady_clock::now();
    auto r = m_runner.run(argv, opts);
    m_counts.micros +=
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    if (!r) {
      ++m_counts.errors;
      return r.error(); // could not run at all (not installed): not worth retrying
    }
    // sbatch must not be retried blindly: a timed-out sbatch may have created the job.
    const bool retryable =
        cmd != "sbatch" && (r->timed_out || (!r->ok() && is_transient_error(r->err)));
    if (!retryable) {
      if (!r->ok()) {
        ++m_counts.errors;
      }
      return r;
    }
    ++m_counts.errors;
    last = make_error(ErrorKind::transient, stderr_summary(*r), cmd);
    spdlog::warn("{} failed transiently (attempt {}/{}): {}", cmd, attempt + 1,
                 m_options.retries + 1, last.message);
  }
  return last;
}

std::string SlurmScheduler::metrics() const {
  std::string out = "# HELP softpack_scheduler_commands_total Slurm commands run, by command.\n"
                    "# TYPE softpack_scheduler_commands_total counter\n";
  for (const auto& [name, n] : {std::pair<const char*, std::size_t>{"sbatch", m_counts.sbatch},
                                {"squeue", m_counts.squeue},
                                {"sacct", m_counts.sacct},
                                {"scancel", m_counts.scancel}}) {
    out += "softpack_scheduler_commands_total{command=\"" + std::string(name) + "\"} " +
           std::to_string(n) + "\n";
  }
  out += "softpack_scheduler_command_errors_total " + std::to_string(m_counts.errors) + "\n";
  out += "softpack_scheduler_command_retries_total " + std::to_string(m_counts.retries) + "\n";
  out += "softpack_scheduler_command_seconds_total " +
         std::to_string(static_cast<double>(m_counts.micros) / 1e6) + "\n";
  return out;
}

Expected<JobId> SlurmScheduler::submit(const JobSpec& spec) {
  const auto argv = sbatch_argv(spec, m_options);
  const auto env = sbatch_environment(spec);
  for (int attempt = 0; attempt <= m_options.retries; ++attempt) {
    if (attempt > 0) {
      m_options.sleep(m_options.retry_base * (1 << std::min(attempt - 1, 6)));
    }
    auto r = run(argv, &env);
    if (!r) {
      return r.error();
    }
    if (r->ok()) {
      // "Slurm temporarily unable to accept job, sleeping and retrying" on stderr is sbatch
      // retrying by itself; what counts is the id on stdout.
      return parse_sbatch(r->out);
    }
    const bool unknown_outcome = r->timed_out || is_transient_error(r->err);
    if (!unknown_outcome) {
      return make_error(ErrorKind::scheduler, stderr_summary(*r), "sbatch " + spec.name);
    }
    // The job may exist although sbatch did not say so: look for it before trying again.
    auto existing = find_submitted(spec);
    if (existing && existing->has_value()) {
      spdlog::warn("sbatch for {} failed ({}) but the job exists as {}", spec.name,
                   stderr_summary(*r), (*existing)->value);
      return **existing;
    }
    spdlog::warn("sbatch for {} failed transiently: {}", spec.name, stderr_summary(*r));
  }
  return make_error(ErrorKind::transient, "could not submit after retries", "sbatch " + spec.name);
}

Expected<std::vector<JobInfo>> SlurmScheduler::poll(std::span<const JobId> ids) {
  std::vector<JobInfo> result;
  if (ids.empty()) {
    return result;
  }
  auto sq = run(squeue_argv(ids));
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
    return make_error(ErrorKind::scheduler, stderr_summary(*sq), "squeue");
  }
  std::vector<JobId> missing;
  for (const auto& id : ids) {
    if (!found.count(id.value)) {
      missing.push_back(id);
    }
  }
  if (!missing.empty()) {
    auto sa = run(sacct_argv(missing));
    if (!sa) {
      return sa.error();
    }
    if (sa->ok()) {
      auto parsed = parse_sacct(sa->out);
      if (!parsed) {
        return parsed.error();
      }
      for (auto& info : *parsed) {
        found[info.id.value] = std::move(info);
      }
    } else {
      // Accounting may be off or down: jobs stay unknown, and their result files decide.
      spdlog::warn("sacct: {}", stderr_summary(*sa));
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
  auto r = run(scancel_argv(ids));
  if (!r) {
    return r.error();
  }
  if (r->ok() || is_invalid_job_id(r->err) ||
      r->err.find("already completing or completed") != std::string::npos) {
    return {};
  }
  return make_error(ErrorKind::scheduler, stderr_summary(*r), "scancel");
}

Expected<std::optional<JobId>> SlurmScheduler::find_submitted(const JobSpec& spec) {
  auto r = run(squeue_name_argv(spec.name));
  if (!r) {
    return r.error();
  }
  if (!r->ok()) {
    return make_error(ErrorKind::scheduler, stderr_summary(*r), "squeue --name");
  }
  auto jobs = parse_squeue_named(r->out);
  if (!jobs) {
    return jobs.error();
  }
  std::optional<JobId> best;
  for (const auto& job : *jobs) {
    if (job.comment == spec.comment &&
        (!best || std::stoull(job.id.value) > std::stoull(best->value))) {
      best = job.id;
    }
  }
  return best;
}

} // namespace softpack::scheduler::slurm
