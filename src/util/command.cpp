#include "util/command.hpp"

#include "util/text.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace softpack {

std::string CommandResult::status_text() const {
  if (timed_out) {
    return "timed out";
  }
  if (signal != 0) {
    return "killed by signal " + std::to_string(signal);
  }
  return "exit " + std::to_string(exit_code);
}

std::string describe_argv(const std::vector<std::string>& argv) {
  return sh_join(argv);
}

std::optional<std::filesystem::path> find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return std::filesystem::path(name);
  }
  const char* path = std::getenv("PATH");
  for (const auto& dir : split(path ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) {
      continue;
    }
    auto candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::nullopt;
}

namespace {

struct Pipe {
  int fds[2] = {-1, -1};
  ~Pipe() { close_both(); }
  void close_both() {
    for (int& fd : fds) {
      if (fd >= 0) {
        ::close(fd);
        fd = -1;
      }
    }
  }
};

std::vector<std::string> build_env(const CommandOptions& options) {
  std::map<std::string, std::string> vars;
  if (!options.clear_env) {
    for (char** e = environ; e && *e; ++e) {
      std::string_view kv(*e);
      auto eq = kv.find('=');
      if (eq != std::string_view::npos) {
        vars[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
      }
    }
  }
  for (const auto& [k, v] : options.env) {
    vars[k] = v;
  }
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (const auto& [k, v] : vars) {
    out.push_back(k + "=" + v);
  }
  return out;
}

} // namespace

Expected<CommandResult> SystemCommandRunner::run(const std::vector<std::string>& argv,
                                                 const CommandOptions& options) {
  using Clock = std::chrono::steady_clock;
  if (argv.empty()) {
    return make_error(ErrorKind::internal, "empty command line");
  }
  Pipe in, out, err;
  if (::pipe2(in.fds, O_CLOEXEC) != 0 || ::pipe2(out.fds, O_CLOEXEC) != 0 ||
      ::pipe2(err.fds, O_CLOEXEC) != 0) {
    return make_error(ErrorKind::command, std::string("cannot create pipes: ") + strerror(errno),
                      argv[0]);
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (options.stdin_data) {
    posix_spawn_file_actions_adddup2(&actions, in.fds[0], 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, out.fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err.fds[1], 2);
  if (options.cwd) {
    posix_spawn_file_actions_addchdir_np(&actions, options.cwd->c_str());
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own process group, so a timeout kills the whole tree; default signal dispositions and mask.
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<char*> cargv;
  for (const auto& a : argv) {
    cargv.push_back(const_cast<char*>(a.c_str()));
  }
  cargv.push_back(nullptr);
  auto env_strings = build_env(options);
  std::vector<char*> cenv;
  for (auto& e : env_strings) {
    cenv.push_back(e.data());
  }
  cenv.push_back(nullptr);

  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0].c_str(), &actions, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return make_error(ErrorKind::command, std::string("cannot run: ") + strerror(rc), argv[0]);
  }
  ::close(in.fds[0]);
  in.fds[0] = -1;
  ::close(out.fds[1]);
  out.fds[1] = -1;
  ::close(err.fds[1]);
  err.fds[1] = -1;

  CommandResult result;
  const std::string stdin_data = options.stdin_data.value_or("");
  std::size_t stdin_done = 0;
  if (!options.stdin_data || stdin_data.empty()) {
    in.close_both();
  } else {
    ::fcntl(in.fds[1], F_SETFL, O_NONBLOCK);
  }

  const auto deadline = Clock::now() + options.timeout;
  bool killed_term = false;
  Clock::time_point kill_at{};
  // Past the deadline: SIGTERM to the child's process group, SIGKILL two seconds later.
  auto enforce_deadline = [&](Clock::time_point now) {
    if (!killed_term && now >= deadline) {
      result.timed_out = true;
      ::kill(-pid, SIGTERM);
      killed_term = true;
      kill_at = now + std::chrono::seconds(2);
    } else if (killed_term && now >= kill_at) {
      ::kill(-pid, SIGKILL);
      kill_at = now + std::chrono::hours(1);
    }
  };
  while (out.fds[0] >= 0 || err.fds[0] >= 0) {
    pollfd fds[3];
    int nfds = 0;
    int idx_out = -1, idx_err = -1, idx_in = -1;
    if (out.fds[0] >= 0) {
      idx_out = nfds;
      fds[nfds++] = {out.fds[0], POLLIN, 0};
    }
    if (err.fds[0] >= 0) {
      idx_err = nfds;
      fds[nfds++] = {err.fds[0], POLLIN, 0};
    }
    if (in.fds[1] >= 0) {
      idx_in = nfds;
      fds[nfds++] = {in.fds[1], POLLOUT, 0};
    }
    const auto now = Clock::now();
    enforce_deadline(now);
    const auto until = killed_term ? kill_at : deadline;
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count();
    wait_ms = std::max<long>(0, std::min<long>(wait_ms, 1000));
    const int n = ::poll(fds, static_cast<nfds_t>(nfds), static_cast<int>(wait_ms));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;
    }
    auto drain = [&](int idx, Pipe& p, std::string& sink) {
      if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) {
        return;
      }
      char buf[65536];
      const ssize_t got = ::read(p.fds[0], buf, sizeof buf);
      if (got <= 0) {
        if (got < 0 && errno == EINTR) {
          return;
        }
        ::close(p.fds[0]);
        p.fds[0] = -1;
        return;
      }
      const auto room = options.max_output_bytes - std::min(options.max_output_bytes, sink.size());
      sink.append(buf, std::min(room, static_cast<std::size_t>(got)));
    };
    drain(idx_out, out, result.out);
    drain(idx_err, err, result.err);
    if (idx_in >= 0 && (fds[idx_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t put =
          ::write(in.fds[1], stdin_data.data() + stdin_done, stdin_data.size() - stdin_done);
      if (put > 0) {
        stdin_done += static_cast<std::size_t>(put);
      }
      if (put < 0 && errno != EAGAIN && errno != EINTR) {
        stdin_done = stdin_data.size();
      }
      if (stdin_done >= stdin_data.size()) {
        ::close(in.fds[1]);
        in.fds[1] = -1;
      }
    }
  }
  in.close_both();

  // The pipes are closed; the child may still be running if it closed them itself.
  int status = 0;
  while (true) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      break;
    }
    if (w < 0 && errno != EINTR) {
      return make_error(ErrorKind::command, std::string("waitpid: ") + strerror(errno), argv[0]);
    }
    const auto now = Clock::now();
    enforce_deadline(now);
    ::usleep(10000);
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

} // namespace softpack
