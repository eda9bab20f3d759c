#include "scheduler/local/local_executor.hpp"

#include "util/fs.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <mutex>
#include <spawn.h>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

namespace softpack::scheduler {

namespace asio = boost::asio;

namespace {

struct Job {
  std::uint64_t seq = 0;
  JobSpec spec;
  JobInfo info;
  pid_t pid = -1;
  bool cancel_requested = false;
  bool timed_out = false;
  std::unique_ptr<asio::posix::stream_descriptor> pidfd;
  std::unique_ptr<asio::steady_timer> limit_timer;
  std::unique_ptr<asio::steady_timer> kill_timer;
};

int open_pidfd(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

// Microseconds since the epoch in hex, made unique within the process, then the pid (8 hex
// digits), so that two programs started in the same microsecond differ too.
std::string instance_token() {
  static std::atomic<std::uint64_t> last{0};
  auto now = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
  std::uint64_t prev = last.load();
  while (!last.compare_exchange_weak(prev, std::max(now, prev + 1))) {
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%llx%08x",
                static_cast<unsigned long long>(std::max(now, prev + 1)),
                static_cast<unsigned>(::getpid()));
  return buf;
}

// The start time of a process (field 22 of /proc/<pid>/stat, in clock ticks since boot): with
// the pid, it names one process for good. Empty when there is no such process.
std::string process_start_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) {
    return {};
  }
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 > stat.size()) {
    return {};
  }
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) {
      return field;
    }
  }
  return {};
}

std::vector<std::string> job_environment(const std::string& job_id) {
  std::vector<std::string> env{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                               "SOFTPACK_JOB_ID=" + job_id};
  for (const char* name : {"HOME", "USER", "LOGNAME", "TMPDIR"}) {
    if (const char* v = std::getenv(name)) {
      env.push_back(std::string(name) + "=" + v);
    }
  }
  return env;
}

} // namespace

struct LocalExecutor::Impl : std::enable_shared_from_this<LocalExecutor::Impl> {
  asio::io_context& io;
  LocalExecutorOptions options;
  mutable std::mutex mutex;
  std::map<std::string, Job> jobs; // by id
  std::uint64_t next_seq = 1;
  // Makes ids unique across executors (a restarted service keeps the ids of its earlier run in
  // its store; "local-1" must not name a job of the new run): "local-<instance>-<seq>".
  std::string id_prefix = "local-" + instance_token() + "-";
  int running = 0;
  bool scheduled = false;
  std::function<void()> listener;
  // After take_over(): this executor's record of its running jobs, and the lock that says it is
  // alive (std::shared_ptr<void> keeps the lock's type local to the .cpp).
  std::filesystem::path jobs_dir;
  std::shared_ptr<void> state_lock;

  Impl(asio::io_context& io_, LocalExecutorOptions options_) : io(io_), options(options_) {}

  // Requests a scheduling pass on the io_context. Caller holds the mutex.
  void request_schedule() {
    if (scheduled) {
      return;
    }
    scheduled = true;
    asio::post(io, [weak = weak_from_this()] {
      if (auto self = weak.lock()) {
        std::lock_guard lock(self->mutex);
        self->scheduled = false;
        self->schedule();
      }
    });
  }

  std::vector<Job*> pending_in_order() {
    std::vector<Job*> out;
    for (auto& [id, job] : jobs) {
      if (job.info.state == JobState::pending) {
        out.push_back(&job);
      }
    }
    std::sort(out.begin(), out.end(), [](Job* a, Job* b) { return a->seq < b->seq; });
    return out;
  }

  void changed() {
    if (listener) {
      listener();
    }
  }

  void finish(Job& job, JobState state, std::string reason) {
    changed();
    job.info.state = state;
    job.info.reason = std::move(reason);
    job.info.native_state = std::string(to_string(state));
    job.info.ended = std::chrono::system_clock::now();
  }

  // Runs on the io_context with the mutex held: settles dependencies, starts ready jobs.
  void schedule() {
    bool changed = true;
    while (changed) {
      changed = false;
      for (Job* job : pending_in_order()) {
        bool ready = true;
        for (const auto& dep : job->spec.after_ok) {
          auto it = jobs.find(dep.value);
          const JobState ds = it == jobs.end() ? JobState::lost : it->second.info.state;
          if (ds == JobState::completed) {
            continue;
          }
          ready = false;
          if (is_final(ds)) {
            finish(*job, JobState::cancelled,
                   "dependency failed: " + dep.value + " ended " + std::string(to_string(ds)));
            changed = true;
            break;
          }
        }
        if (job->info.state != JobState::pending) {
          continue;
        }
        if (!ready) {
          job->info.reason = "Dependency";
          continue;
        }
        if (running >= options.max_running) {
          job->info.reason = "Resources";
          continue;
        }
        start(*job);
        changed = true;
      }
    }
  }

  void start(Job& job) {
    const std::string id = job.info.id.value;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, job.spec.stdout_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (job.spec.stderr_path.empty() || job.spec.stderr_path == job.spec.stdout_path) {
      posix_spawn_file_actions_adddup2(&actions, 1, 2);
    } else {
      posix_spawn_file_actions_addopen(&actions, 2, job.spec.stderr_path.c_str(),
                                       O_WRONLY | O_CREAT | O_APPEND, 0644);
    }
    if (!job.spec.workdir.empty()) {
      posix_spawn_file_actions_addchdir_np(&actions, job.spec.workdir.c_str());
    }
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    // A session of its own: the job survives a terminal hang-up, and cancel signals its group.
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    std::string bash = "/bin/bash";
    std::string script = job.spec.script.string();
    char* argv[] = {bash.data(), script.data(), nullptr};
    auto env_strings = job_environment(id);
    std::vector<char*> envp;
    for (auto& e : env_strings) {
      envp.push_back(e.data());
    }
    envp.push_back(nullptr);

    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, bash.c_str(), &actions, &attr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    job.info.started = std::chrono::system_clock::now();
    if (rc != 0) {
      finish(job, JobState::failed, std::string("cannot start job: ") + std::strerror(rc));
      return;
    }
    job.pid = pid;
    record_process(id, pid);
    job.info.state = JobState::running;
    job.info.native_state = "running";
    job.info.reason = "pid " + std::to_string(pid);
    ++running;
    changed();

    const int fd = open_pidfd(pid);
    if (fd >= 0) {
      job.pidfd = std::make_unique<asio::posix::stream_descriptor>(io, fd);
      job.pidfd->async_wait(asio::posix::stream_descriptor::wait_read,
                            [weak = weak_from_this(), id](const boost::system::error_code& ec) {
                              if (ec) {
                                return;
                              }
                              if (auto self = weak.lock()) {
                                std::lock_guard lock(self->mutex);
                                self->reap(id, /*block=*/true);
                              }
                            });
    } else {
      watch_by_polling(id);
    }
    if (job.spec.resources.time_limit.count() > 0) {
      job.limit_timer = std::make_unique<asio::steady_timer>(io);
      job.limit_timer->expires_after(job.spec.resources.time_limit);
      job.limit_timer->async_wait(
          [weak = weak_from_this(), id](const boost::system::error_code& ec) {
            if (ec) {
              return;
            }
            if (auto self = weak.lock()) {
              std::lock_guard lock(self->mutex);
              auto it = self->jobs.find(id);
              if (it != self->jobs.end() && it->second.info.state == JobState::running) {
                it->second.timed_out = true;
                self->terminate(it->second);
              }
            }
          });
    }
  }

  // Fallback for kernels without pidfd_open: check the child every 100 ms.
  void watch_by_polling(const std::string& id) {
    auto timer = std::make_shared<asio::steady_timer>(io);
    timer->expires_after(std::chrono::milliseconds(100));
    timer->async_wait([weak = weak_from_this(), id, timer](const boost::system::error_code& ec) {
      if (ec) {
        return;
      }
      if (auto self = weak.lock()) {
        std::lock_guard lock(self->mutex);
        if (!self->reap(id, /*block=*/false)) {
          self->watch_by_polling(id);
        }
      }
    });
  }

  // Collects the child's status; returns false when it has not exited yet.
  bool reap(const std::string& id, bool block) {
    auto it = jobs.find(id);
    if (it == jobs.end() || it->second.pid < 0) {
      return true;
    }
    Job& job = it->second;
    int status = 0;
    pid_t w;
    do {
      w = ::waitpid(job.pid, &status, block ? 0 : WNOHANG);
    } while (w < 0 && errno == EINTR);
    if (w == 0) {
      return false;
    }
    // As on a batch system, the job's end ends whatever it left running in its process group
    // (background children, children that ignore SIGTERM); the group outlives its reaped
    // leader only while it has members, so the id cannot have been reused.
    ::kill(-job.pid, SIGKILL);
    job.pid = -1;
    forget_process(id);
    --running;
    job.pidfd.reset();
    if (job.limit_timer) {
      job.limit_timer->cancel();
    }
    if (job.kill_timer) {
      job.kill_timer->cancel();
    }
    if (w > 0 && WIFEXITED(status)) {
      job.info.exit_code = WEXITSTATUS(status);
    } else if (w > 0 && WIFSIGNALED(status)) {
      job.info.signal = WTERMSIG(status);
    }
    if (job.timed_out) {
      finish(job, JobState::timeout, "time limit reached");
    } else if (job.cancel_requested) {
      finish(job, JobState::cancelled, "cancelled");
    } else if (job.info.exit_code == 0) {
      finish(job, JobState::completed, "");
    } else if (job.info.signal) {
      finish(job, JobState::failed, "killed by signal " + std::to_string(*job.info.signal));
    } else {
      finish(job, JobState::failed, "exit code " + std::to_string(job.info.exit_code.value_or(-1)));
    }
    schedule();
    return true;
  }

  void record_process(const std::string& id, pid_t pid) {
    if (jobs_dir.empty()) {
      return;
    }
    std::ofstream out(jobs_dir / id, std::ios::trunc);
    out << pid << ' ' << process_start_time(pid) << '\n';
    if (!out.flush()) {
      spdlog::warn("local executor: cannot record job {} in {}", id, jobs_dir.string());
    }
  }

  void forget_process(const std::string& id) {
    if (!jobs_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove(jobs_dir / id, ec);
    }
  }

  // SIGTERM to the job's process group now, SIGKILL after the grace period.
  void terminate(Job& job) {
    if (job.pid <= 0) {
      return;
    }
    ::kill(-job.pid, SIGTERM);
    job.kill_timer = std::make_unique<asio::steady_timer>(io);
    job.kill_timer->expires_after(options.kill_grace);
    job.kill_timer->async_wait(
        [weak = weak_from_this(), id = job.info.id.value](const boost::system::error_code& ec) {
          if (ec) {
            return;
          }
          if (auto self = weak.lock()) {
            std::lock_guard lock(self->mutex);
            auto it = self->jobs.find(id);
            if (it != self->jobs.end() && it->second.pid > 0) {
              ::kill(-it->second.pid, SIGKILL);
            }
          }
        });
  }
};

namespace {

// Ends the jobs recorded in one executor's directory (files "<pid> <start time>"), and removes it.
void end_recorded_jobs(const std::filesystem::path& dir, std::vector<std::string>& ended,
                       std::vector<pid_t>& groups) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string id = entry.path().filename().string();
    std::ifstream in(entry.path());
    long pid = 0;
    std::string started;
    in >> pid >> started;
    if (pid > 1) {
      const std::string now = process_start_time(static_cast<pid_t>(pid));
      // The job's process group is named by its leader's pid, which Linux does not give to
      // another process while the group has members: with the leader gone, the group is still
      // the job's; with the same pid and start time, the leader is the job's script.
      if ((now.empty() || now == started) && ::kill(-static_cast<pid_t>(pid), SIGKILL) == 0) {
        spdlog::warn("local executor: ended job {} (process group {}), left running by an "
                     "earlier run of the service; its stage runs again",
                     id, pid);
        ended.push_back(id);
        groups.push_back(static_cast<pid_t>(pid));
      }
    }
  }
  std::filesystem::remove_all(dir, ec);
}

// An open file descriptor holding an flock; closed (and so unlocked) on destruction.
struct LockFd {
  int fd = -1;
  LockFd() = default;
  explicit LockFd(int f) : fd(f) {}
  LockFd(LockFd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  LockFd& operator=(LockFd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~LockFd() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

// Locks `path` (created if missing) without waiting; fails when another process holds it, or
// when the file was replaced or removed meanwhile (its sweeper's and its owner's view agree).
LockFd lock_file(const std::filesystem::path& path) {
  LockFd f(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (f.fd < 0 || ::flock(f.fd, LOCK_EX | LOCK_NB) != 0) {
    return {};
  }
  struct stat held {
  }, now{};
  if (::fstat(f.fd, &held) != 0 || ::stat(path.c_str(), &now) != 0 || held.st_ino != now.st_ino ||
      held.st_dev != now.st_dev) {
    return {};
  }
  return f;
}

// Whether the process group still has members.
bool group_alive(pid_t pgid) {
  return ::kill(-pgid, 0) == 0 || errno == EPERM;
}

} // namespace

std::vector<std::string> end_leftover_jobs(const std::filesystem::path& state_dir,
                                           std::string_view own) {
  // Each executor records its jobs in <state_dir>/<instance>/ and holds <instance>.lock while it
  // lives: a lock that can be taken belongs to an executor that is gone.
  std::vector<std::string> ended;
  std::error_code ec;
  std::vector<std::filesystem::path> locks;
  for (const auto& entry : std::filesystem::directory_iterator(state_dir, ec)) {
    if (entry.path().extension() == ".lock" && entry.path().stem().string() != own) {
      locks.push_back(entry.path());
    }
  }
  std::vector<pid_t> groups;
  for (const auto& lock_path : locks) {
    LockFd lock = lock_file(lock_path);
    if (lock.fd < 0) {
      continue; // its executor is alive
    }
    auto dir = lock_path;
    dir.replace_extension();
    end_recorded_jobs(dir, ended, groups);
    std::filesystem::remove(lock_path, ec);
  }
  // SIGKILL is not instant (a process in uninterruptible sleep on NFS); the stages run again
  // only once the old processes are gone, or after a bounded wait, which is logged.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (pid_t g : groups) {
    while (group_alive(g) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (group_alive(g)) {
      spdlog::error("local executor: process group {} still has members 10 s after SIGKILL", g);
    }
  }
  return ended;
}

LocalExecutor::LocalExecutor(asio::io_context& io, LocalExecutorOptions options)
    : m_impl(std::make_shared<Impl>(io, options)) {}

Expected<void> LocalExecutor::take_over(const std::filesystem::path& state_dir) {
  Impl& impl = *m_impl;
  if (auto d = make_directories(state_dir); !d) {
    return d;
  }
  const std::string instance = impl.id_prefix.substr(0, impl.id_prefix.size() - 1);
  auto lock = std::make_shared<LockFd>(lock_file(state_dir / (instance + ".lock")));
  if (lock->fd < 0) {
    return make_error(ErrorKind::io,
                      std::string("cannot create and lock the executor's record: ") +
                          std::strerror(errno),
                      (state_dir / (instance + ".lock")).string());
  }
  const auto jobs_dir = state_dir / instance;
  if (auto d = make_directories(jobs_dir); !d) {
    return d;
  }
  end_leftover_jobs(state_dir, instance);
  std::lock_guard guard(impl.mutex);
  impl.state_lock = std::move(lock);
  impl.jobs_dir = jobs_dir;
  return {};
}

LocalExecutor::~LocalExecutor() {
  std::lock_guard lock(m_impl->mutex);
  for (auto& [id, job] : m_impl->jobs) {
    // Release the descriptors and timers; running children are left to finish on their own.
    job.pidfd.reset();
    job.limit_timer.reset();
    job.kill_timer.reset();
  }
}

Expected<JobId> LocalExecutor::submit(const JobSpec& spec) {
  std::lock_guard lock(m_impl->mutex);
  for (const auto& dep : spec.after_ok) {
    if (!m_impl->jobs.count(dep.value)) {
      return make_error(ErrorKind::invalid_input, "dependency on unknown job " + dep.value,
                        "local: " + spec.name);
    }
  }
  Job job;
  job.seq = m_impl->next_seq++;
  job.spec = spec;
  job.info.id = JobId{m_impl->id_prefix + std::to_string(job.seq)};
  job.info.state = JobState::pending;
  job.info.native_state = "pending";
  job.info.reason = spec.after_ok.empty() ? "Resources" : "Dependency";
  JobId id = job.info.id;
  m_impl->jobs.emplace(id.value, std::move(job));
  m_impl->request_schedule();
  return id;
}

Expected<std::vector<JobInfo>> LocalExecutor::poll(std::span<const JobId> ids) {
  std::lock_guard lock(m_impl->mutex);
  std::vector<JobInfo> out;
  out.reserve(ids.size());
  for (const auto& id : ids) {
    auto it = m_impl->jobs.find(id.value);
    if (it == m_impl->jobs.end()) {
      JobInfo info;
      info.id = id;
      info.state = JobState::unknown;
      info.reason = "no such job";
      out.push_back(std::move(info));
    } else {
      out.push_back(it->second.info);
    }
  }
  return out;
}

Expected<void> LocalExecutor::cancel(std::span<const JobId> ids) {
  std::lock_guard lock(m_impl->mutex);
  for (const auto& id : ids) {
    auto it = m_impl->jobs.find(id.value);
    if (it == m_impl->jobs.end()) {
      continue;
    }
    Job& job = it->second;
    if (job.info.state == JobState::pending) {
      m_impl->finish(job, JobState::cancelled, "cancelled before it started");
    } else if (job.info.state == JobState::running && !job.cancel_requested) {
      job.cancel_requested = true;
      // terminate() arms a timer on the io_context; do it there.
      asio::post(m_impl->io, [weak = std::weak_ptr<Impl>(m_impl), id = id.value] {
        if (auto self = weak.lock()) {
          std::lock_guard lock(self->mutex);
          auto it = self->jobs.find(id);
          if (it != self->jobs.end()) {
            self->terminate(it->second);
          }
        }
      });
    }
  }
  m_impl->request_schedule();
  return {};
}

Expected<std::optional<JobId>> LocalExecutor::find_submitted(const JobSpec& spec) {
  std::lock_guard lock(m_impl->mutex);
  const Job* best = nullptr;
  for (const auto& [id, job] : m_impl->jobs) {
    if (job.spec.name == spec.name && job.spec.comment == spec.comment &&
        (!best || job.seq > best->seq)) {
      best = &job;
    }
  }
  if (!best) {
    return std::optional<JobId>{};
  }
  return std::optional<JobId>(best->info.id);
}

void LocalExecutor::set_change_listener(std::function<void()> listener) {
  std::lock_guard lock(m_impl->mutex);
  m_impl->listener = std::move(listener);
}

std::size_t LocalExecutor::active_jobs() const {
  std::lock_guard lock(m_impl->mutex);
  std::size_t n = 0;
  for (const auto& [id, job] : m_impl->jobs) {
    n += is_final(job.info.state) ? 0 : 1;
  }
  return n;
}

} // namespace softpack::scheduler
