#pragma once

// Publishes a build's files into a git repository in softpack-core's layout, one commit per
// build, touching only the files it publishes (never meta.yml or anything else core or a user
// wrote), without a working tree: a bare mirror in the data directory, a temporary index, and
// plumbing commands (hash-object, update-index, write-tree, commit-tree), then a push. A
// rejected push (someone else pushed) is retried on top of the new tip, a bounded number of
// times. A commit that would change nothing is not made, so publishing twice is harmless.
//
// Credentials never reach a message or a log: URLs shown (destination, errors, git's stderr)
// lose their userinfo, and the secrets of the credentials file are masked in git's output.
// Git never prompts: no terminal prompt, no askpass program, ssh in BatchMode.

#include "artifacts/publisher.hpp"
#include "util/command.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
  // For an http(s) remote: a git-credential-store file (http[s]://user:token@host lines),
  // used for this publisher's git commands only, after resetting the helpers of git's own
  // configuration. It is only read: git's store helper would also rewrite it after a
  // success and delete the line after a refusal, so only its `get` is used. Empty = git's
  // own configuration.
  std::filesystem::path credentials_file;
  // For an ssh remote: the private key (ssh -i <key> -o IdentitiesOnly=yes). Empty = ssh's
  // own configuration and agent, or $GIT_SSH_COMMAND / $GIT_SSH when set (which replace
  // git's core.sshCommand here: that is how BatchMode gets in).
  std::filesystem::path ssh_key_file;
};

class GitPublisher final : public Publisher {
public:
  GitPublisher(CommandRunner& runner, GitPublisherOptions options);
  static constexpr std::string_view k_name = "git";
  std::string name() const override { return std::string(k_name); }
  // The commit is the build's record in softpack-core's repository.
  bool reference_is_record() const override { return true; }
  Expected<PublishResult> publish(const PublishRequest& request) override;

private:
  Expected<CommandResult> git(const std::vector<std::string>& args,
                              const std::map<std::string, std::string>& env = {},
                              std::optional<std::string> stdin_data = std::nullopt);
  std::string destination() const; // "git <url without userinfo> <branch>"
  // A failed git command as an error, its stderr with credentials masked.
  Error failed(const std::string& command, const CommandResult& r) const;
  Expected<void> check_credentials_file() const;
  Expected<void> ensure_mirror();
  // The commit to build on (empty when the branch does not exist yet).
  Expected<std::string> fetch_tip();
  // For a failed build: the outcome files (outcome_files()) in `dir` at `tip` whose last commit
  // was the builder's (it carries the build-id trailer). None for a successful build.
  Expected<std::vector<std::string>> stale_outcome_files(const std::string& tip,
                                                         const std::string& dir, bool success);

  CommandRunner& m_runner;
  GitPublisherOptions m_options;
  std::vector<std::string> m_config_args;       // -c options before every git subcommand
  std::map<std::string, std::string> m_git_env; // for every git command
};

// The trailer that marks a commit as the builder's.
inline constexpr std::string_view k_build_id_trailer = "Softpack-Build-Id:";
// The files that describe a successful build and no other: those a failed rebuild removes when
// the builder wrote them. softpack.yml, .built_by_softpack and builder.out are not among them.
const std::vector<std::string>& outcome_files();

// How every git command of the publisher and the reader reaches the remote: the credential
// store's `get` only (-c options before the subcommand), ssh with the key or in batch mode, and
// never a prompt (the environment). Makes the two files absolute (git may run the helper and
// ssh in another directory).
struct GitAccess {
  std::vector<std::string> config_args;
  std::map<std::string, std::string> env;
};
GitAccess git_access(std::filesystem::path& credentials_file, std::filesystem::path& ssh_key_file);

// The commit message for a build: names the environment and the build id, and carries a
// "Softpack-Build-Id:" trailer by which the builder recognises its own commits.
std::string commit_message(const PublishRequest& request);

// `url` without userinfo: "https://user:token@host/a.git" -> "https://host/a.git". Strings
// that are not scheme://... URLs (local paths, scp-like host:path) come back unchanged.
std::string redact_url(std::string_view url);
// `text` (command output) with the userinfo of every scheme://... URL in it removed.
std::string redact_urls(std::string_view text);
// The secrets in a git-credential-store file: each line's password, as written and
// percent-decoded (the user name instead when a line has no password), for masking.
std::vector<std::string> credential_secrets(std::string_view store_file);
// The value of GIT_SSH_COMMAND for a private key: ssh -i '<key>' -o IdentitiesOnly=yes
// -o BatchMode=yes, the key quoted for the shell git runs it with.
std::string git_ssh_command(const std::filesystem::path& key_file);
// The credential.helper value that answers git's `get` from a git-credential-store file and
// ignores `store` and `erase`, so that the file is never rewritten.
std::string read_only_credential_helper(const std::filesystem::path& store_file);

} // namespace softpack::artifacts
