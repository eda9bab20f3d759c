#include "artifacts/git/git_publisher.hpp"

#include "util/fs.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

namespace softpack::artifacts {

GitAccess git_access(std::filesystem::path& credentials_file, std::filesystem::path& ssh_key_file) {
  // git may run the helper and ssh in another directory.
  for (auto* file : {&credentials_file, &ssh_key_file}) {
    std::error_code ec;
    if (auto absolute = std::filesystem::absolute(*file, ec); !file->empty() && !ec) {
      *file = absolute;
    }
  }
  GitAccess access;
  if (!credentials_file.empty()) {
    // The empty value first drops the helpers of the system and user configuration.
    access.config_args = {"-c", "credential.helper=", "-c",
                          "credential.helper=" + read_only_credential_helper(credentials_file)};
  }
  access.env["LC_ALL"] = "C";
  access.env["GIT_TERMINAL_PROMPT"] = "0";
  // Set and empty: git then asks no askpass program (not core.askPass, not SSH_ASKPASS either).
  access.env["GIT_ASKPASS"] = "";
  if (!ssh_key_file.empty()) {
    access.env["GIT_SSH_COMMAND"] = git_ssh_command(ssh_key_file);
  } else if (!std::getenv("GIT_SSH_COMMAND") && !std::getenv("GIT_SSH")) {
    access.env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes";
  }
  return access;
}

GitPublisher::GitPublisher(CommandRunner& runner, GitPublisherOptions options)
    : m_runner(runner), m_options(std::move(options)) {
  auto access = git_access(m_options.credentials_file, m_options.ssh_key_file);
  m_config_args = std::move(access.config_args);
  m_git_env = std::move(access.env);
}

namespace {

// The end of a URL's authority: the first '/', '?' or '#' (as git reads URLs), or anything
// that cannot be part of a URL in running text.
std::size_t authority_end(std::string_view s, std::size_t from) {
  const auto end = s.find_first_of("/?#\"'<>` \t\r\n", from);
  return end == std::string_view::npos ? s.size() : end;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

void replace_all(std::string& text, const std::string& what, std::string_view with) {
  for (auto pos = text.find(what); pos != std::string::npos;
       pos = text.find(what, pos + with.size())) {
    text.replace(pos, what.size(), with);
  }
}

} // namespace

std::string redact_urls(std::string_view text) {
  std::string out(text);
  for (auto pos = out.find("://"); pos != std::string::npos; pos = out.find("://", pos + 3)) {
    const std::size_t start = pos + 3;
    const std::size_t end = authority_end(out, start);
    const auto at = std::string_view(out).substr(start, end - start).rfind('@');
    if (at != std::string_view::npos) {
      out.erase(start, at + 1);
    }
  }
  return out;
}

std::string redact_url(std::string_view url) {
  return redact_urls(url);
}

std::vector<std::string> credential_secrets(std::string_view store_file) {
  std::vector<std::string> secrets;
  for (auto raw : split_lines(store_file)) {
    const auto line = trim(raw);
    const auto scheme = line.find("://");
    if (scheme == std::string_view::npos) {
      continue;
    }
    const std::size_t start = scheme + 3;
    const auto authority = line.substr(start, authority_end(line, start) - start);
    const auto at = authority.rfind('@');
    if (at == std::string_view::npos) {
      continue;
    }
    const auto userinfo = authority.substr(0, at);
    const auto colon = userinfo.find(':');
    const auto secret = colon == std::string_view::npos ? userinfo : userinfo.substr(colon + 1);
    if (secret.empty()) {
      continue;
    }
    secrets.emplace_back(secret);
    if (auto decoded = percent_decode(secret); decoded != secret) {
      secrets.push_back(std::move(decoded));
    }
  }
  return secrets;
}

std::string git_ssh_command(const std::filesystem::path& key_file) {
  return "ssh -i " + sh_quote(key_file.string()) + " -o IdentitiesOnly=yes -o BatchMode=yes";
}

std::string read_only_credential_helper(const std::filesystem::path& store_file) {
  // A helper starting with '!' is run by git's shell with the action (get, store, erase)
  // appended as an argument.
  return "!f() { if test \"$1\" = get; then exec git credential-store --file=" +
         sh_quote(store_file.string()) + " get; fi; }; f";
}

std::string commit_message(const PublishRequest& request) {
  std::string msg = (request.success ? "Add built environment " : "Add failed build of ") +
                    request.spec->full_name() + "\n\n";
  msg += request.success ? "Built by softpack-builder.\n"
                         : "The build failed; builder.out holds the stage logs.\n";
  msg += std::string("\n") + std::string(k_build_id_trailer) + " " + request.build_id + "\n";
  return msg;
}

Expected<CommandResult> GitPublisher::git(const std::vector<std::string>& args,
                                          const std::map<std::string, std::string>& env,
                                          std::optional<std::string> stdin_data) {
  std::vector<std::string> argv{"git"};
  argv.insert(argv.end(), m_config_args.begin(), m_config_args.end());
  argv.insert(argv.end(), {"--git-dir", m_options.mirror_dir.string()});
  argv.insert(argv.end(), args.begin(), args.end());
  CommandOptions opts;
  opts.timeout = m_options.command_timeout;
  opts.env = m_git_env;
  for (const auto& [k, v] : env) {
    opts.env[k] = v;
  }
  opts.stdin_data = std::move(stdin_data);
  return m_runner.run(argv, opts);
}

Error GitPublisher::failed(const std::string& command, const CommandResult& r) const {
  std::string err = redact_urls(trim(tail_lines(r.err, 5)));
  if (!m_options.credentials_file.empty()) {
    auto content = read_file_if_exists(m_options.credentials_file, 1 << 20);
    if (content && content->has_value()) {
      auto secrets = credential_secrets(**content);
      // Longest first, so that no part of a longer secret is left behind.
      std::sort(secrets.begin(), secrets.end(),
                [](const auto& a, const auto& b) { return a.size() > b.size(); });
      for (const auto& secret : secrets) {
        replace_all(err, secret, "***");
      }
    }
  }
  return make_error(ErrorKind::command, r.status_text() + ": " + err, "git " + command);
}

Expected<void> GitPublisher::check_credentials_file() const {
  if (m_options.credentials_file.empty()) {
    return {};
  }
  const int fd = ::open(m_options.credentials_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return make_error(ErrorKind::config,
                      std::string("cannot read the credentials file: ") + std::strerror(errno),
                      m_options.credentials_file.string());
  }
  ::close(fd);
  return {};
}

namespace {
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
      return failed("init", *r);
    }
    spdlog::info("created artifacts repository {}", redact_url(m_options.remote));
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
    return failed("init", *r);
  }
  auto remote = git({"remote", "add", "origin", m_options.remote});
  if (!remote) {
    return remote.error();
  }
  if (!remote->ok()) {
    return failed("remote", *remote);
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
    return failed("ls-remote", *ls);
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
    return failed("fetch", *fetch);
  }
  auto rev = git({"rev-parse", "--verify", tracking + "^{commit}"});
  if (!rev) {
    return rev.error();
  }
  if (!rev->ok()) {
    return failed("rev-parse", *rev);
  }
  return std::string(trim(rev->out));
}

const std::vector<std::string>& outcome_files() {
  static const std::vector<std::string> files{"spack.lock", "singularity.def", "module",
                                              "README.md"};
  return files;
}

Expected<std::vector<std::string>>
GitPublisher::stale_outcome_files(const std::string& tip, const std::string& dir, bool success) {
  std::vector<std::string> stale;
  if (success) {
    return stale; // a successful build publishes every outcome file itself
  }
  auto ls = git({"ls-tree", "--name-only", tip, "--", dir + "/"});
  if (!ls) {
    return ls.error();
  }
  if (!ls->ok()) {
    return failed("ls-tree", *ls);
  }
  for (auto line : split_lines(ls->out)) {
    const std::string path(trim(line));
    const auto name = path.substr(path.rfind('/') + 1);
    if (path.empty() ||
        std::find(outcome_files().begin(), outcome_files().end(), name) == outcome_files().end()) {
      continue;
    }
    auto log = git({"log", "-1", "--format=%B", tip, "--", path});
    if (!log) {
      return log.error();
    }
    if (!log->ok()) {
      return failed("log", *log);
    }
    if (log->out.find(k_build_id_trailer) != std::string::npos) {
      stale.push_back(path);
    }
  }
  return stale;
}

std::string GitPublisher::destination() const {
  return "git " + redact_url(m_options.remote) + " " + m_options.branch;
}

Expected<PublishResult> GitPublisher::publish(const PublishRequest& request) {
  if (auto c = check_credentials_file(); !c) {
    return c.error();
  }
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
      return failed("hash-object", *h);
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
      return failed("read-tree", *r);
    }
    // Only the files this build publishes are written. Core's own files (meta.yml, the user's
    // softpack.yml, anything else) are never touched; of a successful build's outcome files that
    // this one does not publish (a failed rebuild), only those that the builder itself wrote
    // last are removed, so the directory does not claim a build that is no longer there.
    // update-index --index-info works without a working tree; mode 0 removes an entry.
    std::string index_info;
    if (!tip->empty()) {
      auto stale = stale_outcome_files(*tip, dir, request.success);
      if (!stale) {
        return stale.error();
      }
      for (const auto& path : *stale) {
        index_info += "0 0000000000000000000000000000000000000000\t" + path + "\n";
      }
    }
    for (const auto& [path, blob] : blobs) {
      index_info += "100644 " + blob + "\t" + path + "\n";
    }
    auto upd = git({"update-index", "--index-info"}, index_env, index_info);
    if (!upd) {
      return upd.error();
    }
    if (!upd->ok()) {
      return failed("update-index", *upd);
    }
    auto tree = git({"write-tree"}, index_env);
    if (!tree) {
      return tree.error();
    }
    if (!tree->ok()) {
      return failed("write-tree", *tree);
    }
    const std::string tree_id(trim(tree->out));
    if (!tip->empty()) {
      auto tip_tree = git({"rev-parse", *tip + "^{tree}"});
      if (tip_tree && tip_tree->ok() && trim(tip_tree->out) == tree_id) {
        // Already published (a retry after a crash, or identical files): nothing to commit.
        return PublishResult{destination(), *tip};
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
      return failed("commit-tree", *commit);
    }
    const std::string commit_id(trim(commit->out));
    auto push = git({"push", "--quiet", "origin", commit_id + ":refs/heads/" + m_options.branch});
    if (!push) {
      return push.error();
    }
    if (push->ok()) {
      return PublishResult{destination(), commit_id};
    }
    last = failed("push", *push);
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
