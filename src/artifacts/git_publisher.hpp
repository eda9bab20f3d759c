#pragma once

// Publishes a build's files into a git repository in softpack-core's layout, one commit per
// build, without a working tree: a bare mirror in the data directory, a temporary index, and
// plumbing commands (hash-object, update-index, write-tree, commit-tree), then a push. A
// rejected push (someone else pushed) is retried on top of the new tip, a bounded number of
// times. A commit that would change nothing is not made, so publishing twice is harmless.

#include "artifacts/publisher.hpp"
#include "util/command.hpp"

#include <filesystem>
#include <string>

namespace softpack::artifacts {

struct GitPublisherOptions {
  std::string remote;         // any URL git understands, or a local path
  bool create_remote = false; // `git init --bare` the remote when it is a missing path
  std::string branch = "main";
  std::string author_name = "softpack-builder";
  std::string author_email = "softpack-builder@localhost";
  std::filesystem::path mirror_dir; // bare mirror, created on first use
  int push_attempts = 5;
  std::chrono::seconds command_timeout{300};
};

class GitPublisher final : public Publisher {
public:
  GitPublisher(CommandRunner& runner, GitPublisherOptions options);
  std::string name() const override { return "git"; }
  Expected<PublishResult> publish(const PublishRequest& request) override;

private:
  Expected<CommandResult> git(const std::vector<std::string>& args,
                              const std::map<std::string, std::string>& env = {});
  Expected<void> ensure_mirror();
  // The commit to build on (empty when the branch does not exist yet).
  Expected<std::string> fetch_tip();

  CommandRunner& m_runner;
  GitPublisherOptions m_options;
};

// The commit message for a build: names the environment and the build id, and carries a
// "Softpack-Build-Id:" trailer by which the builder recognises its own commits.
std::string commit_message(const PublishRequest& request);

} // namespace softpack::artifacts
