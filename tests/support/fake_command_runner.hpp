#pragma once

// A CommandRunner that records every argv and answers from a script: tests register responses by
// program name (argv[0]), consumed in order (the last one repeats).

#include "util/command.hpp"

#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace softpack::testing {

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
                              const CommandOptions&) override {
    std::lock_guard lock(m_mutex);
    m_calls.push_back(argv);
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

  std::vector<std::vector<std::string>> calls() const {
    std::lock_guard lock(m_mutex);
    return m_calls;
  }
  std::size_t count(const std::string& program) const {
    std::lock_guard lock(m_mutex);
    std::size_t n = 0;
    for (const auto& c : m_calls) {
      n += c.at(0) == program ? 1 : 0;
    }
    return n;
  }

private:
  mutable std::mutex m_mutex;
  std::map<std::string, std::deque<CommandResult>> m_responses;
  std::vector<std::vector<std::string>> m_calls;
};

} // namespace softpack::testing
