#pragma once

// Reads files of the artifacts repository at a given commit, through a bare mirror of its own
// in the data directory (git fetch; no GitLab API). Used by the webhook to read a pushed
// softpack.yml.

#include "util/command.hpp"
#include "util/error.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace softpack::artifacts {

class GitReader {
public:
  GitReader(CommandRunner& runner, std::string remote, std::filesystem::path mirror_dir);
  // Fetches the remote's branches (and so the commit a push names).
  Expected<void> fetch();
  // The file's content at `commit`, or nullopt when the path does not exist there.
  Expected<std::optional<std::string>> read(const std::string& commit, const std::string& path);
  // Whether `path` (a file or a directory) exists at `commit`.
  Expected<bool> exists(const std::string& commit, const std::string& path);

private:
  Expected<CommandResult> git(const std::vector<std::string>& args);
  CommandRunner& m_runner;
  std::string m_remote;
  std::filesystem::path m_mirror;
};

} // namespace softpack::artifacts
