#pragma once

// Running external commands: always an argv vector (never a shell string), stdout, stderr and
// status captured separately, and always a time limit. CommandRunner is the seam that tests
// replace with a fake that records argv and replays recorded output.

#include "util/error.hpp"

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace softpack {

struct CommandOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  std::optional<std::filesystem::path> cwd;
  std::optional<std::string> stdin_data; // nullopt: stdin is /dev/null
  // Variables set (or replaced) in the child's environment.
  std::map<std::string, std::string> env;
  // When true the child gets only `env` (plus nothing inherited).
  bool clear_env = false;
  std::size_t max_output_bytes = 16 << 20; // per stream; the rest is discarded
};

struct CommandResult {
  int exit_code = -1; // valid when signal == 0
  int signal = 0;     // the signal that ended the child, 0 if it exited
  bool timed_out = false;
  std::string out;
  std::string err;

  bool ok() const { return !timed_out && signal == 0 && exit_code == 0; }
  // "exit 1", "killed by signal 9", "timed out" for messages.
  std::string status_text() const;
};

// Thread-safe implementations may be called from any thread.
class CommandRunner {
public:
  virtual ~CommandRunner() = default;
  // An error only when the command could not be run at all (not found, cannot fork); a command
  // that ran and failed is a CommandResult with !ok().
  virtual Expected<CommandResult> run(const std::vector<std::string>& argv,
                                      const CommandOptions& options) = 0;
};

// posix_spawn with pipes; on timeout the child's process group gets SIGTERM then SIGKILL.
class SystemCommandRunner final : public CommandRunner {
public:
  Expected<CommandResult> run(const std::vector<std::string>& argv,
                              const CommandOptions& options) override;
};

// "cmd arg 'quoted arg'": for logs and error messages only, never for execution.
std::string describe_argv(const std::vector<std::string>& argv);

// Resolves a program name against PATH (or returns it as is when it contains '/').
std::optional<std::filesystem::path> find_program(const std::string& name);

} // namespace softpack
