#include "artifacts/git_reader.hpp"

#include "artifacts/git/git_publisher.hpp"
#include "util/text.hpp"

#include <cstdlib>

namespace softpack::artifacts {

namespace {

bool is_hex_id(std::string_view s) {
  return (s.size() == 40 || s.size() == 64) &&
         s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// Ids reach git's argv: only full hex ids, never an option or a revision expression.
Expected<void> check_ids(const std::optional<std::string>& before, const std::string& after) {
  for (const auto* id : {before ? &*before : nullptr, &after}) {
    if (id != nullptr && !is_hex_id(*id)) {
      return make_error(ErrorKind::invalid_input, "not a commit id: '" + printable(*id) + "'");
    }
  }
  return {};
}

// Output of git that is not what was asked for.
Error parse_error(std::string message, std::string_view what) {
  return make_error(ErrorKind::command, std::move(message), std::string(what));
}

} // namespace

GitReader::GitReader(CommandRunner& runner, GitReaderOptions options)
    : m_runner(runner), m_options(std::move(options)) {
  auto access = git_access(m_options.credentials_file, m_options.ssh_key_file);
  m_config_args = std::move(access.config_args);
  m_git_env = std::move(access.env);
}

Expected<CommandResult> GitReader::git(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"git"};
  argv.insert(argv.end(), m_config_args.begin(), m_config_args.end());
  argv.insert(argv.end(), {"--git-dir", m_options.mirror_dir.string()});
  argv.insert(argv.end(), args.begin(), args.end());
  CommandOptions opts;
  opts.timeout = std::chrono::minutes(5);
  opts.env = m_git_env;
  // A log of a whole history (a new branch) can be long; a truncated one would misattribute.
  opts.max_output_bytes = std::size_t{256} << 20;
  return m_runner.run(argv, opts);
}

Expected<std::string> GitReader::git_output(const std::vector<std::string>& args,
                                            std::string_view what) {
  auto r = git(args);
  if (!r) {
    return r.error();
  }
  if (!r->ok()) {
    // git's last lines of stderr, on one line: the error goes to one log line.
    const std::string tail = redact_urls(tail_lines(r->err, 3));
    std::string detail;
    for (auto line : split_lines(tail)) {
      if (!trim(line).empty()) {
        detail += (detail.empty() ? "" : " ") + std::string(trim(line));
      }
    }
    return make_error(ErrorKind::command, r->status_text() + ": " + detail, std::string(what));
  }
  return std::move(r->out);
}

Expected<void> GitReader::fetch() {
  if (!std::filesystem::exists(m_options.mirror_dir / "HEAD")) {
    CommandOptions opts;
    auto init =
        m_runner.run({"git", "init", "--quiet", "--bare", m_options.mirror_dir.string()}, opts);
    if (!init) {
      return init.error();
    }
    if (!init->ok()) {
      return make_error(ErrorKind::command, init->status_text() + ": " + init->err, "git init");
    }
  }
  auto r =
      git_output({"fetch", "--quiet", "--prune", m_options.remote, "+refs/heads/*:refs/heads/*"},
                 "git fetch " + redact_url(m_options.remote));
  if (!r) {
    return r.error();
  }
  return {};
}

Expected<std::optional<std::string>> GitReader::tip(const std::string& branch) {
  auto r = git({"rev-parse", "--verify", "--quiet", "refs/heads/" + branch + "^{commit}"});
  if (!r) {
    return r.error();
  }
  if (!r->ok()) {
    return std::optional<std::string>{};
  }
  return std::optional<std::string>(std::string(trim(r->out)));
}

Expected<bool> GitReader::has_commit(const std::string& id) {
  if (!is_hex_id(id)) {
    return make_error(ErrorKind::invalid_input, "not a commit id: '" + printable(id) + "'");
  }
  auto r = git({"cat-file", "-e", id + "^{commit}"});
  if (!r) {
    return r.error();
  }
  return r->ok();
}

Expected<std::vector<std::string>>
GitReader::changed_files(const std::optional<std::string>& before, const std::string& after,
                         const std::string& dir) {
  if (auto ok = check_ids(before, after); !ok) {
    return ok.error();
  }
  // --no-color: the user's git configuration (color.ui=always) must not reach the parser.
  const std::vector<std::string> args =
      before ? std::vector<std::string>{"diff-tree",
                                        "--no-color",
                                        "-r",
                                        "-z",
                                        "--no-renames",
                                        "--name-only",
                                        "--diff-filter=AM",
                                        *before,
                                        after,
                                        "--",
                                        dir}
             : std::vector<std::string>{"ls-tree", "-r", "-z", "--name-only", after, "--", dir};
  const std::string what =
      before ? "git diff-tree " + *before + " " + after : "git ls-tree " + after;
  auto out = git_output(args, what);
  if (!out) {
    return out.error();
  }
  auto names = parse_name_list(*out);
  if (!names) {
    return make_error(names.error().kind, names.error().message, what);
  }
  return names;
}

Expected<std::vector<LoggedCommit>> GitReader::commits(const std::optional<std::string>& before,
                                                       const std::string& after,
                                                       const std::string& dir) {
  if (auto ok = check_ids(before, after); !ok) {
    return ok.error();
  }
  const std::string range = before ? *before + ".." + after : after;
  const std::string what = "git log " + range;
  auto out = git_output({"log", "--no-color", "--no-show-signature", "-z", "--no-renames",
                         "--name-only", "--format=%H%x1f%ae%x1f%B", range, "--", dir},
                        what);
  if (!out) {
    return out.error();
  }
  auto commits = parse_log(*out, dir);
  if (!commits) {
    return make_error(commits.error().kind, commits.error().message, what);
  }
  return commits;
}

Expected<std::optional<std::string>> GitReader::read(const std::string& commit,
                                                     const std::string& path) {
  auto ok = exists(commit, path);
  if (!ok) {
    return ok.error();
  }
  if (!*ok) {
    return std::optional<std::string>{};
  }
  auto out = git_output({"cat-file", "blob", commit + ":" + path}, "git cat-file " + path);
  if (!out) {
    return out.error();
  }
  return std::optional<std::string>(std::move(*out));
}

Expected<bool> GitReader::exists(const std::string& commit, const std::string& path) {
  if (!is_hex_id(commit)) {
    return make_error(ErrorKind::invalid_input, "not a commit id: '" + printable(commit) + "'");
  }
  auto r = git({"cat-file", "-e", commit + ":" + path});
  if (!r) {
    return r.error();
  }
  return r->ok();
}

Expected<std::vector<std::string>> parse_name_list(std::string_view out) {
  std::vector<std::string> names;
  if (out.empty()) {
    return names;
  }
  if (out.back() != '\0') {
    return parse_error("expected NUL-terminated names, got output ending in '" +
                           printable(out.substr(out.size() > 40 ? out.size() - 40 : 0)) + "'",
                       "git -z output");
  }
  out.remove_suffix(1);
  for (auto name : split(out, '\0')) {
    if (name.empty()) {
      return parse_error("an empty name in NUL-terminated names", "git -z output");
    }
    names.push_back(std::move(name));
  }
  return names;
}

Expected<std::vector<LoggedCommit>> parse_log(std::string_view out, std::string_view dir) {
  std::vector<LoggedCommit> commits;
  if (out.empty()) {
    return commits;
  }
  if (out.back() != '\0') {
    return parse_error("expected NUL-terminated records, got output ending in '" +
                           printable(out.substr(out.size() > 40 ? out.size() - 40 : 0)) + "'",
                       "git log -z");
  }
  out.remove_suffix(1);
  std::size_t start = 0;
  while (start <= out.size()) {
    const std::size_t nul = out.find('\0', start);
    const std::size_t end = nul == std::string_view::npos ? out.size() : nul;
    std::string_view token = out.substr(start, end - start);
    start = end + 1;

    // git puts a newline between a commit's message and its first file.
    std::string_view file = token;
    if (!file.empty() && file.front() == '\n') {
      file.remove_prefix(1);
    }
    if (!dir.empty() && file.starts_with(dir)) {
      if (commits.empty()) {
        return parse_error("a file before any commit: '" + printable(file) + "'", "git log -z");
      }
      commits.back().files.emplace_back(file);
      continue;
    }
    const std::size_t sep1 = token.find('\x1f');
    const std::size_t sep2 =
        sep1 == std::string_view::npos ? std::string_view::npos : token.find('\x1f', sep1 + 1);
    if (sep2 == std::string_view::npos || !is_hex_id(token.substr(0, sep1))) {
      return parse_error("expected a commit (<id>\\x1f<email>\\x1f<message>) or a file under '" +
                             std::string(dir) + "', got '" + printable(token) + "'",
                         "git log -z");
    }
    LoggedCommit c;
    c.id = std::string(token.substr(0, sep1));
    c.author_email = std::string(token.substr(sep1 + 1, sep2 - sep1 - 1));
    c.message = std::string(token.substr(sep2 + 1));
    commits.push_back(std::move(c));
  }
  return commits;
}

} // namespace softpack::artifacts
