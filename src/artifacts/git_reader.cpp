#include "artifacts/git_reader.hpp"

#include "util/text.hpp"

namespace softpack::artifacts {

GitReader::GitReader(CommandRunner& runner, std::string remote, std::filesystem::path mirror_dir)
    : m_runner(runner), m_remote(std::move(remote)), m_mirror(std::move(mirror_dir)) {}

Expected<CommandResult> GitReader::git(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"git", "--git-dir", m_mirror.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandOptions opts;
  opts.timeout = std::chrono::minutes(5);
  opts.env = {{"GIT_TERMINAL_PROMPT", "0"}, {"LC_ALL", "C"}};
  return m_runner.run(argv, opts);
}

Expected<void> GitReader::fetch() {
  if (!std::filesystem::exists(m_mirror / "HEAD")) {
    CommandOptions opts;
    auto init = m_runner.run({"git", "init", "--quiet", "--bare", m_mirror.string()}, opts);
    if (!init) {
      return init.error();
    }
    if (!init->ok()) {
      return make_error(ErrorKind::command, init->status_text() + ": " + init->err, "git init");
    }
  }
  auto r = git({"fetch", "--quiet", "--prune", m_remote, "+refs/heads/*:refs/heads/*"});
  if (!r) {
    return r.error();
  }
  if (!r->ok()) {
    return make_error(ErrorKind::command,
                      r->status_text() + ": " + std::string(trim(tail_lines(r->err, 3))),
                      "git fetch " + m_remote);
  }
  return {};
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
  auto r = git({"cat-file", "blob", commit + ":" + path});
  if (!r) {
    return r.error();
  }
  if (!r->ok()) {
    return make_error(ErrorKind::command, r->status_text() + ": " + r->err, "git cat-file");
  }
  return std::optional<std::string>(r->out);
}

Expected<bool> GitReader::exists(const std::string& commit, const std::string& path) {
  if (commit.find_first_not_of("0123456789abcdef") != std::string::npos || commit.empty()) {
    return make_error(ErrorKind::invalid_input, "not a commit id: '" + printable(commit) + "'");
  }
  auto r = git({"cat-file", "-e", commit + ":" + path});
  if (!r) {
    return r.error();
  }
  return r->ok();
}

} // namespace softpack::artifacts
