#pragma once

// The embedded default scheduler: runs job scripts as child processes of this program, driven by
// an Asio io_context, with Slurm `afterok` semantics:
//   - a job starts only when every job in after_ok has completed (exit 0);
//   - when a dependency ends any other way, the dependent ends `cancelled` with reason
//     "dependency failed" (as Slurm does with --kill-on-invalid-dep=yes), and so on down the DAG;
//   - at most `max_running` jobs run at once; ready jobs start in submission order;
//   - a job over its time limit gets SIGTERM (then SIGKILL) and ends `timeout`;
//   - when a job's script ends, whatever is left in its process group is killed (SIGKILL).
// Children run in their own session with a minimal environment (like a batch job): PATH,
// LANG and SOFTPACK_JOB_ID, plus HOME, USER, LOGNAME and TMPDIR when this program has them; the
// job script sets the rest itself. Job ids ("local-<instance>-<n>") are never reused, not even
// by another executor. Running children are left running when the executor is destroyed; a
// new executor (after a restart) does not know them; the service's ends them (take_over). Its jobs
// do not survive the service (jobs_survive_service()), so the engine runs the unfinished stages
// again after a restart.
//
// The change listener is called with the executor's lock held, on the io_context or the
// thread calling cancel(): it must not call back into the executor (post instead).
//
// Thread-safety: the Scheduler verbs may be called from any thread; child processes are
// watched on the io_context, which must be running for jobs to make progress.

#include "scheduler/scheduler.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace softpack::scheduler {

struct LocalExecutorOptions {
  int max_running = 2;
  std::chrono::seconds kill_grace{10}; // SIGTERM -> SIGKILL
};

// Ends the process groups of the jobs that executors now gone recorded in `state_dir` and left
// running (a kill -9 of the service leaves them: they run in sessions of their own), and removes
// their records; the records of live executors (another program's, `own`) are left alone. A
// record whose pid now names another process is only removed. Returns the ids of the jobs ended.
std::vector<std::string> end_leftover_jobs(const std::filesystem::path& state_dir,
                                           std::string_view own = {});

class LocalExecutor final : public Scheduler {
public:
  LocalExecutor(boost::asio::io_context& io, LocalExecutorOptions options);
  ~LocalExecutor() override;
  LocalExecutor(const LocalExecutor&) = delete;
  LocalExecutor& operator=(const LocalExecutor&) = delete;

  static constexpr std::string_view k_name = "local";
  std::string_view name() const override { return k_name; }
  bool jobs_survive_service() const override { return false; }
  // From now on, records each running job under `state_dir` (<instance>/<job id>: "<pid> <start
  // time>", and <instance>.lock held while this executor lives), and ends now the jobs that
  // executors now gone recorded there and left running (end_leftover_jobs). Only the service
  // calls it, before it resumes builds; an error (the directory cannot be written or locked)
  // stops it.
  Expected<void> take_over(const std::filesystem::path& state_dir) override;
  Expected<JobId> submit(const JobSpec& spec) override;
  Expected<std::vector<JobInfo>> poll(std::span<const JobId> ids) override;
  Expected<void> cancel(std::span<const JobId> ids) override;
  Expected<std::optional<JobId>> find_submitted(const JobSpec& spec) override;
  void set_change_listener(std::function<void()> listener) override;

  // Number of jobs not yet final.
  std::size_t active_jobs() const;

private:
  struct Impl;
  std::shared_ptr<Impl> m_impl;
};

} // namespace softpack::scheduler
