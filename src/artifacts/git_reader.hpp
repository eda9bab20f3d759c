#pragma once

// Reads the artifacts repository through a bare mirror of its own in the data directory (git
// fetch; no GitLab API): what a push changed, by whom, and files at a given commit. Used by the
// webhook. Every git command gets an argv (no shell) and a time limit.
//
// Not thread-safe: one GitReader (and one mirror directory) per thread at a time.

#include "util/command.hpp"
#include "util/error.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace softpack::artifacts {

// One commit as `git log` shows it, with the files it changed against its first parent (none
// for a merge).
struct LoggedCommit {
  std::string id;
  std::string author_email;
  std::string message;            // the raw message (%B)
  std::vector<std::string> files; // under the directory asked for
  bool operator==(const LoggedCommit&) const = default;
};

struct GitReaderOptions {
  std::string remote;                     // the artifacts repository (any URL git understands)
  std::filesystem::path mirror_dir;       // the bare mirror, created on first fetch
  std::filesystem::path credentials_file; // git-credential-store file for https; empty = none
  std::filesystem::path ssh_key_file;     // private key for ssh; empty = ssh's own setup
};

class GitReader {
public:
  // The same access to the remote as the git destination's (artifacts.credentials_file,
  // artifacts.ssh_key_file), never prompting.
  GitReader(CommandRunner& runner, GitReaderOptions options);
  // Creates the mirror if needed and fetches the remote's branches.
  Expected<void> fetch();
  // Whether `id` names a commit in the mirror.
  Expected<bool> has_commit(const std::string& id);
  // The commit the fetched `branch` points to; nullopt when there is no such branch.
  Expected<std::optional<std::string>> tip(const std::string& branch);
  // The files under `dir` (e.g. "environments/") that were added or modified from `before` to
  // `after` (git diff-tree, renames as delete + add); with no `before`, every file under `dir`
  // at `after`. Deleted files are not listed.
  Expected<std::vector<std::string>> changed_files(const std::optional<std::string>& before,
                                                   const std::string& after,
                                                   const std::string& dir);
  // The commits reachable from `after` but not from `before` (all of `after`'s history when
  // there is no `before`) that touch `dir`, newest first, with the files they touched there.
  Expected<std::vector<LoggedCommit>> commits(const std::optional<std::string>& before,
                                              const std::string& after, const std::string& dir);
  // The file's content at `commit`, or nullopt when the path does not exist there.
  Expected<std::optional<std::string>> read(const std::string& commit, const std::string& path);
  // Whether `path` (a file or a directory) exists at `commit`.
  Expected<bool> exists(const std::string& commit, const std::string& path);

private:
  Expected<CommandResult> git(const std::vector<std::string>& args);
  // `git args` that must succeed; its stdout.
  Expected<std::string> git_output(const std::vector<std::string>& args, std::string_view what);
  CommandRunner& m_runner;
  GitReaderOptions m_options;
  std::vector<std::string> m_config_args;       // -c options before every git subcommand
  std::map<std::string, std::string> m_git_env; // for every git command
};

// The pure parsers of the commands above.
// NUL-terminated names (`-z --name-only`): the names, in order. Errors when the output does not
// end with a NUL.
Expected<std::vector<std::string>> parse_name_list(std::string_view out);
// `git log -z --name-only --format=%H%x1f%ae%x1f%B -- <dir>`: each commit is one NUL-terminated
// token "<id>\x1f<email>\x1f<message>", followed by its files, one NUL-terminated token each,
// the first one preceded by '\n'. A token is a commit when it starts with a commit id and
// \x1f; a file token starts with `dir` (git only lists paths under it), so no file name can be
// taken for a commit. Anything else is an error naming the token.
Expected<std::vector<LoggedCommit>> parse_log(std::string_view out, std::string_view dir);

} // namespace softpack::artifacts
