#pragma once

// A CommandRunner that records every call (argv and the CommandOptions it was given: timeout,
// cwd, stdin, environment, output cap) and answers from a script: tests register responses by
// program name (argv[0]), consumed in order (the last one repeats). Thread-safe.

#include "util/command.hpp"

#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace softpack::testing {

// One call as the runner received it.
struct RecordedCall {
  std::vector<std::string> argv;
  CommandOptions options;
};

class FakeCommandRunner final : public CommandRunner {
public:
  void respond(const std::string& program, CommandResult result) {
    std::lock_guard lock(m_mutex);
    m_responses[program].push_back(std::move(result));
  }
  void respond_ok(const std::string& program, std::string out) {
    CommandResult r;
    r.exit_code = 0;
    r.out = std::move(out);
    respond(program, std::move(r));
  }
  void respond_fail(const std::string& program, int code, std::string err) {
    CommandResult r;
    r.exit_code = code;
    r.err = std::move(err);
    respond(program, std::move(r));
  }

  Expected<CommandResult> run(const std::vector<std::string>& argv,
                              const CommandOptions& options) override {
    std::lock_guard lock(m_mutex);
    m_calls.push_back({argv, options});
    auto& queue = m_responses[argv.at(0)];
    if (queue.empty()) {
      return make_error(ErrorKind::command, "no scripted response", argv.at(0));
    }
    CommandResult r = queue.front();
    if (queue.size() > 1) {
      queue.pop_front();
    }
    return r;
  }

  // The argv of every call, in order.
  std::vector<std::vector<std::string>> calls() const {
    std::lock_guard lock(m_mutex);
    std::vector<std::vector<std::string>> argvs;
    argvs.reserve(m_calls.size());
    for (const auto& c : m_calls) {
      argvs.push_back(c.argv);
    }
    return argvs;
  }
  // Every call with its options, in order.
  std::vector<RecordedCall> recorded_calls() const {
    std::lock_guard lock(m_mutex);
    return m_calls;
  }
  std::size_t count(const std::string& program) const {
    std::lock_guard lock(m_mutex);
    std::size_t n = 0;
    for (const auto& c : m_calls) {
      n += c.argv.at(0) == program ? 1 : 0;
    }
    return n;
  }

private:
  mutable std::mutex m_mutex;
  std::map<std::string, std::deque<CommandResult>> m_responses;
  std::vector<RecordedCall> m_calls;
};

} // namespace softpack::testing
