#include "artifacts/git_publisher.hpp"

#include "util/fs.hpp"
#include "util/text.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

namespace softpack::artifacts {

GitPublisher::GitPublisher(CommandRunner& runner, GitPublisherOptions options)
    : m_runner(runner), m_options(std::move(options)) {}

std::string commit_message(const PublishRequest& request) {
  std::string msg = (request.success ? "Add built environment " : "Add failed build of ") +
                    request.spec.full_name() + "\n\n";
  msg += request.success ? "Built by softpack-builder.\n"
                         : "The build failed; builder.out holds the stage logs.\n";
  msg += "\nSoftpack-Build-Id: " + request.build_id + "\n";
  return msg;
}

Expected<CommandResult> GitPublisher::git(const std::vector<std::string>& args,
                                          const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv{"git", "--git-dir", m_options.mirror_dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandOptions opts;
  opts.timeout = m_options.command_timeout;
  opts.env = env;
  opts.env["GIT_TERMINAL_PROMPT"] = "0";
  opts.env["LC_ALL"] = "C";
  auto r = m_runner.run(argv, opts);
  if (!r) {
    return r.error();
  }
  return r;
}

namespace {
Error git_failed(const std::vector<std::string>& args, const CommandResult& r) {
  return make_error(ErrorKind::command,
                    r.status_text() + ": " + std::string(trim(tail_lines(r.err, 5))),
                    "git " + (args.empty() ? std::string() : args[0]));
}

bool is_local_path(const std::string& url) {
  return !url.empty() && url.find("://") == std::string::npos &&
         (url[0] == '/' || url[0] == '.' || url.find(':') == std::string::npos);
}
} // namespace

Expected<void> GitPublisher::ensure_mirror() {
  if (m_options.create_remote && is_local_path(m_options.remote) &&
      !std::filesystem::exists(std::filesystem::path(m_options.remote) / "HEAD")) {
    CommandOptions opts;
    opts.timeout = m_options.command_timeout;
    auto r = m_runner.run({"git", "init", "--quiet", "--bare",
                           "--initial-branch=" + m_options.branch, m_options.remote},
                          opts);
    if (!r) {
      return r.error();
    }
    if (!r->ok()) {
      return git_failed({"init"}, *r);
    }
    spdlog::info("created artifacts repository {}", m_options.remote);
  }
  if (std::filesystem::exists(m_options.mirror_dir / "HEAD")) {
    return {};
  }
  if (auto d = make_directories(m_options.mirror_dir.parent_path()); !d) {
    return d;
  }
  CommandOptions opts;
  opts.timeout = m_options.command_timeout;
  auto r = m_runner.run({"git", "init", "--quiet", "--bare", m_options.mirror_dir.string()}, opts);
  if (!r) {
    return r.error();
  }
  if (!r->ok()) {
    return git_failed({"init"}, *r);
  }
  auto remote = git({"remote", "add", "origin", m_options.remote});
  if (!remote) {
    return remote.error();
  }
  if (!remote->ok()) {
    return git_failed({"remote"}, *remote);
  }
  return {};
}

Expected<std::string> GitPublisher::fetch_tip() {
  const std::string tracking = "refs/remotes/origin/" + m_options.branch;
  auto ls = git({"ls-remote", "--heads", "origin", "refs/heads/" + m_options.branch});
  if (!ls) {
    return ls.error();
  }
  if (!ls->ok()) {
    return git_failed({"ls-remote"}, *ls);
  }
  if (trim(ls->out).empty()) {
    return std::string(); // the branch does not exist yet: our commit will be its first
  }
  auto fetch =
      git({"fetch", "--quiet", "origin", "+refs/heads/" + m_options.branch + ":" + tracking});
  if (!fetch) {
    return fetch.error();
  }
  if (!fetch->ok()) {
    return git_failed({"fetch"}, *fetch);
  }
  auto rev = git({"rev-parse", "--verify", tracking + "^{commit}"});
  if (!rev) {
    return rev.error();
  }
  if (!rev->ok()) {
    return git_failed({"rev-parse"}, *rev);
  }
  return std::string(trim(rev->out));
}

Expected<PublishResult> GitPublisher::publish(const PublishRequest& request) {
  if (auto m = ensure_mirror(); !m) {
    return m.error();
  }
  const std::string dir = environment_dir(request.spec);
  const std::string index = (m_options.mirror_dir / ("index." + request.build_id)).string();
  const std::map<std::string, std::string> index_env{{"GIT_INDEX_FILE", index}};
  const std::map<std::string, std::string> author_env{
      {"GIT_AUTHOR_NAME", m_options.author_name},
      {"GIT_AUTHOR_EMAIL", m_options.author_email},
      {"GIT_COMMITTER_NAME", m_options.author_name},
      {"GIT_COMMITTER_EMAIL", m_options.author_email},
  };
  struct IndexCleanup {
    std::string path;
    ~IndexCleanup() { ::unlink(path.c_str()); }
  } cleanup{index};

  // Store the blobs once; they do not depend on the tip.
  std::vector<std::pair<std::string, std::string>> blobs; // path in repo, blob id
  for (const auto& name : artifact_files(request.success)) {
    const auto file = request.out_dir / name;
    if (!std::filesystem::exists(file)) {
      return make_error(ErrorKind::io, "artifact is missing", file.string());
    }
    auto h = git({"hash-object", "-w", "--", file.string()});
    if (!h) {
      return h.error();
    }
    if (!h->ok()) {
      return git_failed({"hash-object"}, *h);
    }
    blobs.emplace_back(dir + "/" + name, std::string(trim(h->out)));
  }

  Error last = make_error(ErrorKind::transient, "push was not attempted", "git push");
  for (int attempt = 1; attempt <= m_options.push_attempts; ++attempt) {
    auto tip = fetch_tip();
    if (!tip) {
      return tip.error();
    }
    ::unlink(index.c_str());
    std::vector<std::string> read_tree{"read-tree"};
    if (tip->empty()) {
      read_tree.push_back("--empty");
    } else {
      read_tree.push_back(*tip);
    }
    auto r = git(read_tree, index_env);
    if (!r) {
      return r.error();
    }
    if (!r->ok()) {
      return git_failed(read_tree, *r);
    }
    // Replace the environment's directory wholesale: files of an earlier attempt go, ours come.
    // update-index --index-info works without a working tree; mode 0 removes an entry.
    std::string index_info;
    if (!tip->empty()) {
      auto ls = git({"ls-tree", "-r", "--name-only", *tip, "--", dir});
      if (!ls) {
        return ls.error();
      }
      if (!ls->ok()) {
        return git_failed({"ls-tree"}, *ls);
      }
      for (auto line : split_lines(ls->out)) {
        if (!line.empty()) {
          index_info += "0 0000000000000000000000000000000000000000\t" + std::string(line) + "\n";
        }
      }
    }
    for (const auto& [path, blob] : blobs) {
      index_info += "100644 " + blob + "\t" + path + "\n";
    }
    CommandOptions info_opts;
    info_opts.timeout = m_options.command_timeout;
    info_opts.env = index_env;
    info_opts.stdin_data = index_info;
    auto upd = m_runner.run(
        {"git", "--git-dir", m_options.mirror_dir.string(), "update-index", "--index-info"},
        info_opts);
    if (!upd) {
      return upd.error();
    }
    if (!upd->ok()) {
      return git_failed({"update-index"}, *upd);
    }
    auto tree = git({"write-tree"}, index_env);
    if (!tree) {
      return tree.error();
    }
    if (!tree->ok()) {
      return git_failed({"write-tree"}, *tree);
    }
    const std::string tree_id(trim(tree->out));
    if (!tip->empty()) {
      auto tip_tree = git({"rev-parse", *tip + "^{tree}"});
      if (tip_tree && tip_tree->ok() && trim(tip_tree->out) == tree_id) {
        // Already published (a retry after a crash, or identical files): nothing to commit.
        return PublishResult{"git " + m_options.remote + " " + m_options.branch, *tip};
      }
    }
    std::vector<std::string> commit_args{"commit-tree", tree_id};
    if (!tip->empty()) {
      commit_args.insert(commit_args.end(), {"-p", *tip});
    }
    commit_args.insert(commit_args.end(), {"-m", commit_message(request)});
    auto commit = git(commit_args, author_env);
    if (!commit) {
      return commit.error();
    }
    if (!commit->ok()) {
      return git_failed({"commit-tree"}, *commit);
    }
    const std::string commit_id(trim(commit->out));
    auto push = git({"push", "--quiet", "origin", commit_id + ":refs/heads/" + m_options.branch});
    if (!push) {
      return push.error();
    }
    if (push->ok()) {
      return PublishResult{"git " + m_options.remote + " " + m_options.branch, commit_id};
    }
    last = git_failed({"push"}, *push);
    const bool rejected = push->err.find("rejected") != std::string::npos ||
                          push->err.find("non-fast-forward") != std::string::npos ||
                          push->err.find("fetch first") != std::string::npos;
    if (!rejected) {
      return last;
    }
    spdlog::warn("push of build {} rejected (attempt {}/{}); rebuilding on the new tip",
                 request.build_id, attempt, m_options.push_attempts);
  }
  last.kind = ErrorKind::transient;
  return last;
}

} // namespace softpack::artifacts
