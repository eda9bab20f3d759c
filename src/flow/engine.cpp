#include "flow/engine.hpp"

#include "flow/poll_outcome.hpp"
#include "flow/publishing.hpp"
#include "flow/stage_result.hpp"
#include "util/fs.hpp"

#include <algorithm>
#include <exception>
#include <random>
#include <set>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

namespace softpack::flow {

namespace asio = boost::asio;
using scheduler::JobId;
using scheduler::JobInfo;
using scheduler::JobState;

EngineOptions engine_options(const config::Config& config) {
  EngineOptions o;
  o.poll_interval = config.scheduler.poll_interval;
  o.min_poll_interval = config.scheduler.min_poll_interval;
  o.lost_grace = config.scheduler.lost_grace;
  o.publish_retry_initial = config.publish.retry_initial;
  o.publish_retry_max = config.publish.retry_max;
  o.publish_give_up_after = config.publish.give_up_after;
  return o;
}

namespace {

PublishPolicy publish_policy(const EngineOptions& o) {
  return PublishPolicy{o.publish_retry_initial, o.publish_retry_max, o.publish_give_up_after,
                       o.log_tail_bytes};
}

} // namespace

std::chrono::milliseconds publish_backoff(const EngineOptions& options, int attempts) {
  return backoff_delay(publish_policy(options), attempts);
}

namespace {

struct Build {
  BuildStatus status;
  BuildPlan plan;
  bool cancel_sent = false; // remaining jobs cancelled after a failure or a request
  bool finishing = false;   // the jobs have all ended; publishing has begun
  bool publish_in_flight = false;
  // The next publish attempt, or (while submitting) the next submission attempt.
  std::unique_ptr<asio::steady_timer> retry_timer;
  int submit_retries = 0; // submissions put off in a row (journal or scheduler unavailable)
};

struct PollOutcome {
  Expected<std::vector<JobInfo>> infos = std::vector<JobInfo>{};
  std::map<std::string, std::optional<StageResult>> results; // by job id
};

} // namespace

struct FlowEngine::Impl {
  asio::io_context& io;
  scheduler::Scheduler& sched;
  Publishing publishing;
  EngineOptions options;
  const Clock& clock;
  asio::thread_pool pool{2};
  asio::steady_timer timer;
  asio::steady_timer watch_timer; // looks for new result files between polls
  bool watch_armed = false;
  std::set<std::string> results_seen; // job ids whose result file has been seen
  std::map<std::string, std::unique_ptr<Build>> builds;
  std::map<std::string, std::pair<std::string, std::size_t>> by_job; // job id -> build, stage
  BuildObserver* observer = nullptr;
  BuildJournal* journal = nullptr;
  bool poll_in_flight = false;
  bool timer_armed = false;
  asio::steady_timer::time_point timer_due{};
  std::chrono::milliseconds interval;
  std::size_t poll_calls = 0;
  std::optional<SystemTime> last_poll_ok;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  std::minstd_rand jitter{std::random_device{}()};

  Impl(asio::io_context& io_, scheduler::Scheduler& s, std::vector<artifacts::Publisher*> p,
       EngineOptions o, const Clock& c)
      : io(io_), sched(s), publishing(std::move(p), publish_policy(o)), options(o), clock(c),
        timer(io_), watch_timer(io_), interval(o.min_poll_interval) {
    // Backends that learn of changes themselves (the local executor) wake the poll early.
    sched.set_change_listener([this, alive = std::weak_ptr<bool>(alive)] {
      asio::post(io, [this, alive] {
        if (alive.lock()) {
          poll_soon();
        }
      });
    });
  }

  // Runs `work` on the pool, then `done(result)` back on the io_context (unless the engine is
  // gone by then). An exception out of `work` (a bug in a scheduler or publisher) is caught and
  // logged, and `failed(what)` runs on the io_context instead: the task's builds go on, and the
  // service with them.
  template <typename Work, typename Done, typename Failed>
  void offload(std::string task, Work work, Done done, Failed failed) {
    asio::post(pool, [this, task = std::move(task), work = std::move(work), done = std::move(done),
                      failed = std::move(failed), alive = std::weak_ptr<bool>(alive)]() mutable {
      using Result = decltype(work());
      std::optional<Result> result;
      std::string what;
      try {
        result.emplace(work());
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
        what = "an exception that is not a std::exception";
      }
      if (!result) {
        spdlog::error("{}: unexpected exception: {}", task, what);
      }
      asio::post(io, [done = std::move(done), failed = std::move(failed),
                      result = std::move(result), what = std::move(what), alive]() mutable {
        if (!alive.lock()) {
          return;
        }
        if (result) {
          done(std::move(*result));
        } else {
          failed(what);
        }
      });
    });
  }

  // Saves the build; a failure is logged and returned.
  Expected<void> try_save(const Build& b) {
    if (journal) {
      if (auto r = journal->save(b.status); !r) {
        spdlog::error("build {}: saving state failed: {}", b.status.id, r.error().describe());
        return r;
      }
    }
    return {};
  }
  // Saves the build; a failure is logged, and the build goes on (the next save writes it all).
  void save(const Build& b) { (void)try_save(b); }
  void notify_build(const Build& b) {
    save(b);
    if (observer) {
      observer->on_build_changed(b.status);
    }
  }
  void notify_stage(const Build& b, const StageStatus& st) {
    save(b);
    if (observer) {
      observer->on_stage_changed(b.status, st);
    }
  }

  void set_state(Build& b, BuildState s) {
    if (b.status.state != s) {
      b.status.state = s;
      if (is_final(s)) {
        b.status.done = clock.now();
      }
      notify_build(b);
    }
  }

  std::string start(BuildPlan plan) {
    auto b = std::make_unique<Build>();
    b->status.id = plan.build_id;
    b->status.spec = plan.spec;
    b->status.build_dir = plan.build_dir;
    b->status.requested = clock.now();
    for (const auto& sp : plan.stages) {
      StageStatus st;
      st.name = sp.name;
      st.job_name = sp.job_name;
      b->status.stages.push_back(st);
    }
    b->plan = std::move(plan);
    const std::string id = b->status.id;
    Build& build = *b;
    builds.emplace(id, std::move(b));
    notify_build(build);
    set_state(build, BuildState::submitting);
    submit_next(build);
    return id;
  }

  // Submits the build's stages one at a time, in plan order, each after the jobs it depends
  // on. Write-ahead: a stage is saved as `submitting` before the scheduler is asked and with
  // its job id right after, so a restart knows which stages may exist without an id.
  void submit_next(Build& b) {
    std::size_t idx = b.status.stages.size();
    for (std::size_t i = 0; i < b.status.stages.size(); ++i) {
      const auto& st = b.status.stages[i];
      if (!st.job_id && !scheduler::is_final(st.state)) {
        idx = i;
        break;
      }
    }
    if (idx == b.status.stages.size()) {
      set_state(b, BuildState::running);
      if (b.status.cancel_requested) {
        cancel_remaining(b);
      }
      maybe_finish(b);
      poll_soon();
      return;
    }
    if (b.status.cancel_requested) {
      for (std::size_t i = idx; i < b.status.stages.size(); ++i) {
        auto& st = b.status.stages[i];
        st.state = JobState::cancelled;
        st.reason = "not submitted: the build was cancelled";
        st.submitting = false;
        notify_stage(b, st);
      }
      submit_next(b);
      return;
    }
    auto& st = b.status.stages[idx];
    // Set before a restart, or by an attempt whose outcome is unknown: the job may exist.
    const bool check_first = st.submitting;
    st.submitting = true;
    if (auto saved = try_save(b); !saved) {
      // Write-ahead: a job submitted without its `submitting` record could be submitted again
      // after a restart. Ask the scheduler only once the record is written (disk full).
      submit_later(b, idx, "waiting to record the submission: " + saved.error().describe());
      return;
    }
    if (observer) {
      observer->on_stage_changed(b.status, st);
    }
    std::vector<JobId> after;
    for (const auto& dep : b.plan.stages[idx].after) {
      for (const auto& other : b.status.stages) {
        // A dependency that has completed is met: no need to name its job (which a scheduler
        // may have forgotten, or, after a restart of the local executor, never knew).
        if (other.name == dep && other.job_id && other.state != JobState::completed) {
          after.push_back(*other.job_id);
        }
      }
    }
    scheduler::JobSpec js = b.plan.job_spec(b.plan.stages[idx], after);
    js.requested_by = b.status.requested_by.display();
    offload(
        "submitting " + js.name,
        [this, js, check_first]() -> Expected<JobId> {
          if (check_first) {
            auto found = sched.find_submitted(js);
            if (found && found->has_value()) {
              return **found;
            }
          }
          return sched.submit(js);
        },
        [this, id = b.status.id, idx](Expected<JobId> r) { on_stage_submitted(id, idx, r); },
        // A task for this build alone: the exception is the build's error (the job may exist,
        // so the build cancels and follows whatever it submitted).
        [this, id = b.status.id, idx](const std::string& what) {
          on_stage_submitted(id, idx,
                             make_error(ErrorKind::internal, "unexpected exception: " + what,
                                        std::string(sched.name())));
        });
  }

  void on_stage_submitted(const std::string& id, std::size_t idx, const Expected<JobId>& r) {
    Build& b = *builds.at(id);
    auto& st = b.status.stages[idx];
    if (!r && r.error().kind == ErrorKind::transient && !b.status.cancel_requested) {
      // The scheduler could not be reached (controller down, commands timing out) even after
      // the backend's own retries. Not the build's fault: the stage stays `submitting` (the
      // job may exist, so the next attempt looks for it first) and is tried again, backing
      // off up to poll_interval, for as long as it takes.
      submit_later(b, idx, "submission failed, retrying: " + r.error().describe());
      return;
    }
    st.submitting = false;
    b.submit_retries = 0;
    if (r) {
      st.reason.clear();
      st.job_id = *r;
      st.submitted = clock.now();
      by_job[r->value] = {id, idx};
      spdlog::info("build {}: stage {} submitted as job {} ({})", id, st.name, r->value,
                   st.job_name);
      notify_stage(b, st);
      submit_next(b);
      return;
    }
    b.status.error = "submitting stage " + st.name + ": " + r.error().describe();
    spdlog::error("build {}: {}", id, b.status.error);
    for (std::size_t i = idx; i < b.status.stages.size(); ++i) {
      auto& s = b.status.stages[i];
      const bool failed_here = i == idx;
      s.state = failed_here ? JobState::failed : JobState::cancelled;
      s.reason = failed_here ? "submission failed: " + r.error().describe()
                             : "not submitted: a stage before it failed to submit";
      notify_stage(b, s);
    }
    // Jobs already submitted are cancelled and followed to their end.
    set_state(b, BuildState::running);
    cancel_remaining(b);
    poll_soon();
  }

  // Tries the build's submissions again after a delay that doubles from min_poll_interval up
  // to poll_interval; `reason` is shown on the stage meanwhile.
  void submit_later(Build& b, std::size_t idx, std::string reason) {
    auto& st = b.status.stages[idx];
    const bool news = st.reason != reason;
    st.reason = std::move(reason);
    ++b.submit_retries;
    auto delay = options.min_poll_interval;
    for (int i = 1; i < b.submit_retries && delay < options.poll_interval; ++i) {
      delay *= 2;
    }
    delay = std::min(delay, options.poll_interval);
    spdlog::warn("build {}: stage {}: {}; next attempt in {} ms", b.status.id, st.name, st.reason,
                 delay.count());
    if (news) {
      notify_stage(b, st); // best effort: the store may be what is failing
    }
    retry_after(b, delay, BuildState::submitting, &Impl::submit_next);
  }

  void resume(BuildPlan plan, BuildStatus status) {
    auto b = std::make_unique<Build>();
    b->status = std::move(status);
    b->plan = std::move(plan);
    const std::string id = b->status.id;
    for (std::size_t i = 0; i < b->status.stages.size(); ++i) {
      const auto& st = b->status.stages[i];
      if (st.job_id) {
        by_job[st.job_id->value] = {id, i};
      }
    }
    Build& build = *b;
    builds[id] = std::move(b);
    spdlog::info("build {}: resuming in state {}", id, to_string(build.status.state));
    if (!sched.jobs_survive_service() && build.status.state != BuildState::publishing) {
      rerun_interrupted_stages(build);
    }
    if (build.status.state == BuildState::publishing) {
      // Publish again to the destinations not yet done: publishing is idempotent.
      build.status.state = BuildState::running;
    }
    const bool unsubmitted = std::any_of(
        build.status.stages.begin(), build.status.stages.end(),
        [](const StageStatus& s) { return !s.job_id && !scheduler::is_final(s.state); });
    if (unsubmitted) {
      set_state(build, BuildState::submitting);
      submit_next(build);
      return;
    }
    set_state(build, BuildState::running);
    maybe_finish(build);
    poll_soon();
  }

  // The scheduler's jobs ended with the service (the local executor's children): what finished
  // is kept, every stage that had not is run again (re-submitted after the completed ones). A
  // stage whose job wrote a successful result file (it finished while the service was down)
  // counts as completed; any other result or start file of a stage that runs again is removed
  // first, so that the new job is not judged by the old one's. Each such restart is noted in
  // the build's logs/restarts.log, which builder.out shows.
  void rerun_interrupted_stages(Build& b) {
    std::string rerun;
    for (auto& st : b.status.stages) {
      if (!st.job_id || scheduler::is_final(st.state)) {
        continue;
      }
      if (auto result = finished_while_down(b, st)) {
        st.state = JobState::completed;
        st.exit_code = 0;
        st.started = from_unix_seconds(result->start);
        st.ended = from_unix_seconds(result->end);
        st.reason = "completed while the service was down";
        continue;
      }
      std::error_code ec;
      std::filesystem::remove(b.plan.result_path(st.name), ec);
      std::filesystem::remove(b.plan.started_path(st.name), ec);
      by_job.erase(st.job_id->value);
      rerun += (rerun.empty() ? "" : ", ") + st.name + " (job " + st.job_id->value + ")";
      st.job_id.reset();
      st.state = JobState::pending;
      st.submitting = false;
      st.started.reset();
      st.exit_code.reset();
      st.reason = "runs again: the service restarted, and the jobs of the " +
                  std::string(sched.name()) + " scheduler end with it";
    }
    if (rerun.empty()) {
      return;
    }
    const std::string note = format_rfc3339(clock.now()) +
                             " the service restarted; these stages run again: " + rerun + "\n";
    spdlog::warn("build {}: {}", b.status.id, note.substr(0, note.size() - 1));
    if (auto w = append_file(b.plan.restarts_log(), note); !w) {
      spdlog::warn("build {}: {}", b.status.id, w.error().describe());
    }
    if (auto saved = try_save(b); !saved) {
      spdlog::warn("build {}: {}", b.status.id, saved.error().describe());
    }
  }

  // The stage's result file, when its job (of this submission) ended with exit 0.
  std::optional<StageResult> finished_while_down(const Build& b, const StageStatus& st) const {
    auto text = read_file_if_exists(b.plan.result_path(st.name), 4096);
    if (!text || !text->has_value()) {
      return std::nullopt;
    }
    auto result = parse_stage_result(**text);
    if (!result || result->exit_code != 0 ||
        (st.submitted && result->start < to_unix_seconds(*st.submitted))) {
      return std::nullopt;
    }
    return *result;
  }

  std::vector<JobId> open_jobs(const Build& b) const {
    std::vector<JobId> ids;
    for (const auto& st : b.status.stages) {
      if (st.job_id && !scheduler::is_final(st.state)) {
        ids.push_back(*st.job_id);
      }
    }
    return ids;
  }

  void cancel_remaining(Build& b) {
    if (b.cancel_sent) {
      return;
    }
    b.cancel_sent = true;
    auto ids = open_jobs(b);
    if (ids.empty()) {
      maybe_finish(b);
      return;
    }
    auto on_cancelled = [this, id = b.status.id](Expected<void> r) {
      if (!r) {
        spdlog::warn("build {}: cancelling its jobs: {}", id, r.error().describe());
        // Let the next poll, failure or request try again.
        builds.at(id)->cancel_sent = false;
      }
      poll_soon();
    };
    offload(
        "cancelling the jobs of build " + b.status.id, [this, ids] { return sched.cancel(ids); },
        on_cancelled,
        // A failed cancel, tried again like one the scheduler refused.
        [on_cancelled](const std::string& what) {
          on_cancelled(make_error(ErrorKind::internal, "unexpected exception: " + what));
        });
  }

  bool cancel(const std::string& id) {
    auto it = builds.find(id);
    if (it == builds.end() || is_final(it->second->status.state) ||
        it->second->status.state == BuildState::publishing) {
      return false; // nothing left to cancel
    }
    Build& b = *it->second;
    b.status.cancel_requested = true;
    if (b.status.state != BuildState::submitting) {
      cancel_remaining(b);
    }
    notify_build(b);
    return true;
  }

  // Arms the poll timer for `delay` from now unless it is already due sooner.
  void arm(std::chrono::milliseconds delay) {
    const auto due = asio::steady_timer::clock_type::now() + delay;
    if (timer_armed && timer_due <= due) {
      return;
    }
    timer_armed = true;
    timer_due = due;
    timer.expires_at(due);
    timer.async_wait(
        [this, alive = std::weak_ptr<bool>(alive)](const boost::system::error_code& ec) {
          if (ec || !alive.lock()) {
            return;
          }
          timer_armed = false;
          poll();
        });
  }

  void poll_soon() {
    interval = options.min_poll_interval;
    arm(options.min_poll_interval);
    arm_watch();
  }

  // A job script writes its result file as its last act, so a new result file means a stage
  // has ended: poll the scheduler now instead of at the end of a backed-off interval. Checking
  // files costs no scheduler call.
  void arm_watch() {
    if (watch_armed || options.result_watch_interval.count() <= 0) {
      return;
    }
    watch_armed = true;
    watch_timer.expires_after(options.result_watch_interval);
    watch_timer.async_wait(
        [this, alive = std::weak_ptr<bool>(alive)](const boost::system::error_code& ec) {
          if (ec || !alive.lock()) {
            return;
          }
          watch_armed = false;
          std::vector<std::pair<std::string, std::filesystem::path>> files;
          for (const auto& [id, b] : builds) {
            if (b->status.state != BuildState::running) {
              continue;
            }
            for (const auto& st : b->status.stages) {
              if (st.job_id && !scheduler::is_final(st.state) &&
                  !results_seen.count(st.job_id->value)) {
                files.emplace_back(st.job_id->value, b->plan.result_path(st.name));
              }
            }
          }
          if (files.empty()) {
            return; // re-armed by the next poll_soon()
          }
          offload(
              "looking for result files",
              [files] {
                std::vector<std::string> found;
                for (const auto& [job, path] : files) {
                  std::error_code ec;
                  if (std::filesystem::exists(path, ec)) {
                    found.push_back(job);
                  }
                }
                return found;
              },
              [this](std::vector<std::string> found) {
                for (const auto& job : found) {
                  results_seen.insert(job);
                }
                if (!found.empty()) {
                  poll_soon();
                } else {
                  arm_watch();
                }
              },
              // Nothing found this time: the next look, or the next poll, finds it.
              [this](const std::string&) { arm_watch(); });
        });
  }

  void poll() {
    if (poll_in_flight) {
      return; // on_polled re-arms
    }
    std::vector<JobId> ids;
    std::map<std::string, std::filesystem::path> result_files;
    for (const auto& [id, b] : builds) {
      if (b->status.state != BuildState::running) {
        continue;
      }
      for (const auto& st : b->status.stages) {
        if (st.job_id && !scheduler::is_final(st.state)) {
          ids.push_back(*st.job_id);
          result_files[st.job_id->value] = b->plan.result_path(st.name);
        }
      }
    }
    if (ids.empty()) {
      return;
    }
    poll_in_flight = true;
    ++poll_calls;
    offload(
        "polling " + std::string(sched.name()),
        [this, ids, result_files] {
          PollOutcome out;
          out.infos = sched.poll(ids);
          for (const auto& [job, path] : result_files) {
            auto text = read_file_if_exists(path, 4096);
            if (text && text->has_value()) {
              auto parsed = parse_stage_result(**text);
              if (parsed) {
                out.results[job] = *parsed;
              }
            }
          }
          return out;
        },
        [this](PollOutcome out) { on_polled(std::move(out)); },
        // A task for every build: a failed poll (tried again, backing off), no build's error.
        [this](const std::string& what) {
          PollOutcome out;
          out.infos = make_error(ErrorKind::internal, "unexpected exception: " + what);
          on_polled(std::move(out));
        });
  }

  void on_polled(PollOutcome out) {
    poll_in_flight = false;
    if (!out.infos) {
      // A scheduler that cannot answer is not a failed build: try again, backing off.
      spdlog::warn("polling {} failed: {}", sched.name(), out.infos.error().describe());
      interval = std::min(options.poll_interval, interval * 2);
      arm(interval);
      return;
    }
    const auto now = clock.now();
    last_poll_ok = now;
    std::set<std::string> changed; // builds with a stage whose state changed
    for (const auto& info : *out.infos) {
      auto rit = out.results.find(info.id.value);
      if (update_stage(info, rit == out.results.end() ? std::nullopt : rit->second, now)) {
        changed.insert(by_job.at(info.id.value).first);
      }
    }
    for (const auto& id : changed) {
      Build& b = *builds.at(id);
      if (any_stage_ended_badly(b)) {
        cancel_remaining(b);
      }
      maybe_finish(b);
    }
    // A cancel call that failed is tried again on every poll: the jobs it was for would
    // otherwise wait forever for dependencies that can no longer succeed.
    for (auto& [id, bp] : builds) {
      Build& b = *bp;
      if (b.status.state == BuildState::running && !b.cancel_sent &&
          (b.status.cancel_requested || any_stage_ended_badly(b))) {
        cancel_remaining(b);
      }
    }
    interval =
        changed.empty() ? std::min(options.poll_interval, interval * 2) : options.min_poll_interval;
    arm(interval);
  }

  // Applies the scheduler's answer for one job (and its result file) to its stage, and tells
  // the journal and the observer when the state or the reason changed. Returns whether the
  // state changed.
  bool update_stage(const JobInfo& info, const std::optional<StageResult>& result, SystemTime now) {
    auto where = by_job.find(info.id.value);
    if (where == by_job.end()) {
      return false;
    }
    Build& b = *builds.at(where->second.first);
    StageStatus& st = b.status.stages[where->second.second];
    if (scheduler::is_final(st.state)) {
      return false;
    }
    const StageStatus before = st;
    st = advance_stage(before, info, result, now, options.lost_grace);
    if (st.started && !b.status.started) {
      b.status.started = st.started;
    }
    const bool state_changed = st.state != before.state;
    // A new reason alone (a requeued job's Priority -> BeginTime, a hold) is news for whoever
    // watches the build, though not a reason to poll sooner.
    if (state_changed || st.reason != before.reason) {
      spdlog::info("build {}: stage {} (job {}) {}{}", b.status.id, st.name,
                   st.job_id ? st.job_id->value : "-", scheduler::to_string(st.state),
                   st.reason.empty() ? "" : " (" + st.reason + ")");
      notify_stage(b, st);
    }
    return state_changed;
  }

  static bool any_stage_ended_badly(const Build& b) {
    return std::any_of(b.status.stages.begin(), b.status.stages.end(), [](const StageStatus& s) {
      return scheduler::is_final(s.state) && s.state != JobState::completed;
    });
  }

  void maybe_finish(Build& b) {
    if (b.finishing || is_final(b.status.state)) {
      return;
    }
    for (const auto& st : b.status.stages) {
      if (!scheduler::is_final(st.state)) {
        return;
      }
    }
    b.finishing = true;
    b.status.succeeded =
        std::all_of(b.status.stages.begin(), b.status.stages.end(),
                    [](const StageStatus& s) { return s.state == JobState::completed; });
    if (!b.status.succeeded && b.status.error.empty()) {
      for (const auto& st : b.status.stages) {
        if (st.state != JobState::completed) {
          b.status.error = "stage " + st.name + " " + std::string(scheduler::to_string(st.state));
          if (!st.reason.empty()) {
            b.status.error += ": " + st.reason;
          }
          if (meaningful_exit_code(st) && st.reason.find("exit code") == std::string::npos) {
            b.status.error += " (exit code " + std::to_string(*st.exit_code) + ")";
          }
          break;
        }
      }
    }
    set_state(b, BuildState::publishing);
    publishing.list_destinations(b.status);
    notify_build(b);
    publish_pending(b);
  }

  // One publish attempt on the pool (reading logs and publishing may block), from a snapshot.
  void publish_pending(Build& b) {
    if (b.publish_in_flight) {
      return;
    }
    b.publish_in_flight = true;
    const std::string id = b.status.id;
    offload(
        "publishing build " + id,
        [this, snapshot = b.status, plan = b.plan] {
          return publishing.attempt(snapshot, plan, clock);
        },
        [this, id](std::vector<PublishOutcome> outcomes) {
          on_published(*builds.at(id), std::move(outcomes));
        },
        // Publishing's own work (builder.out) failed unexpectedly: the attempt failed, and is
        // tried again after the backoff of the first pending destination.
        [this, id](const std::string& what) {
          Build& b = *builds.at(id);
          std::vector<PublishOutcome> outcomes;
          for (const auto& d : b.status.destinations) {
            if (d.state == DestinationState::pending) {
              outcomes.push_back({d.name,
                                  make_error(ErrorKind::internal, "unexpected exception: " + what),
                                  clock.now()});
              break;
            }
          }
          on_published(b, std::move(outcomes));
        });
  }

  void on_published(Build& b, std::vector<PublishOutcome> outcomes) {
    b.publish_in_flight = false;
    const std::string& id = b.status.id;
    const auto jitter_of = [this](std::chrono::milliseconds delay) {
      return std::chrono::milliseconds(
          std::uniform_int_distribution<long long>(0, delay.count() / 5)(jitter));
    };
    for (const auto& o : outcomes) {
      const Recorded recorded = publishing.record(b.status, o, jitter_of);
      DestinationStatus* d = recorded.destination;
      if (!d) {
        continue;
      }
      switch (recorded.what) {
      case Recorded::What::published:
        spdlog::info("build {}: published to {} ({})", id, o.result->destination,
                     o.result->reference);
        break;
      case Recorded::What::given_up:
        spdlog::error("build {}: publishing to {} failed; giving up after {} attempt(s): {}", id,
                      d->name, d->attempts, d->error);
        break;
      case Recorded::What::retrying:
        spdlog::warn(
            "build {}: publishing to {} failed (attempt {}), next attempt in {} ms: {}", id,
            d->name, d->attempts,
            std::chrono::duration_cast<std::chrono::milliseconds>(*d->next_attempt - o.when)
                .count(),
            d->error);
        break;
      }
      save(b);
      if (observer) {
        observer->on_destination_changed(b.status, *d);
      }
    }
    finish_publishing(b);
  }

  void finish_publishing(Build& b) {
    if (auto final_state = publishing.settle(b.status)) {
      set_state(b, *final_state);
      return;
    }
    for (const auto& d : b.status.destinations) {
      if (d.state == DestinationState::pending) {
        schedule_publish(b, d.next_attempt);
        return;
      }
    }
  }

  // The next attempt at `when` (a wall-clock time from the journal; now when unset).
  void schedule_publish(Build& b, std::optional<SystemTime> when) {
    const auto now = clock.now();
    const auto delay = when && *when > now
                           ? std::chrono::duration_cast<std::chrono::milliseconds>(*when - now)
                           : std::chrono::milliseconds(0);
    retry_after(b, delay, BuildState::publishing, &Impl::publish_pending);
  }

  // Runs `step` on the build after `delay` (its one retry timer), if it still exists and is
  // still in `state` by then.
  void retry_after(Build& b, std::chrono::milliseconds delay, BuildState state,
                   void (Impl::*step)(Build&)) {
    if (!b.retry_timer) {
      b.retry_timer = std::make_unique<asio::steady_timer>(io);
    }
    b.retry_timer->expires_after(delay);
    b.retry_timer->async_wait([this, id = b.status.id, alive = std::weak_ptr<bool>(alive), state,
                               step](const boost::system::error_code& ec) {
      if (ec || !alive.lock()) {
        return;
      }
      auto it = builds.find(id);
      if (it != builds.end() && it->second->status.state == state) {
        (this->*step)(*it->second);
      }
    });
  }
};

FlowEngine::FlowEngine(asio::io_context& io, scheduler::Scheduler& scheduler,
                       std::vector<artifacts::Publisher*> publishers, EngineOptions options,
                       const Clock& clock)
    : m_impl(std::make_unique<Impl>(io, scheduler, std::move(publishers), options, clock)) {}

FlowEngine::FlowEngine(asio::io_context& io, scheduler::Scheduler& scheduler,
                       artifacts::Publisher& publisher, EngineOptions options, const Clock& clock)
    : FlowEngine(io, scheduler, std::vector<artifacts::Publisher*>{&publisher}, options, clock) {}

FlowEngine::~FlowEngine() {
  m_impl->sched.set_change_listener(nullptr);
  m_impl->alive.reset();
  m_impl->timer.cancel();
  m_impl->watch_timer.cancel();
  for (auto& [id, b] : m_impl->builds) {
    if (b->retry_timer) {
      b->retry_timer->cancel();
    }
  }
  m_impl->pool.join();
}

void FlowEngine::set_observer(BuildObserver* observer) {
  m_impl->observer = observer;
}
void FlowEngine::set_journal(BuildJournal* journal) {
  m_impl->journal = journal;
}
void FlowEngine::resume(BuildPlan plan, BuildStatus status) {
  m_impl->resume(std::move(plan), std::move(status));
}
std::string FlowEngine::start(BuildPlan plan) {
  return m_impl->start(std::move(plan));
}
bool FlowEngine::cancel(const std::string& build_id) {
  return m_impl->cancel(build_id);
}

const BuildStatus* FlowEngine::find(const std::string& build_id) const {
  auto it = m_impl->builds.find(build_id);
  return it == m_impl->builds.end() ? nullptr : &it->second->status;
}

std::vector<const BuildStatus*> FlowEngine::builds() const {
  std::vector<const BuildStatus*> out;
  for (const auto& [id, b] : m_impl->builds) {
    out.push_back(&b->status);
  }
  return out;
}

std::size_t FlowEngine::active() const {
  std::size_t n = 0;
  for (const auto& [id, b] : m_impl->builds) {
    n += is_final(b->status.state) ? 0 : 1;
  }
  return n;
}

std::size_t FlowEngine::poll_calls() const {
  return m_impl->poll_calls;
}

std::optional<SystemTime> FlowEngine::last_successful_poll() const {
  return m_impl->last_poll_ok;
}

bool FlowEngine::tracking_jobs() const {
  for (const auto& [id, b] : m_impl->builds) {
    if (b->status.state == BuildState::running) {
      return true;
    }
  }
  return false;
}

} // namespace softpack::flow
