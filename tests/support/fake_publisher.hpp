#pragma once

// A Publisher that records every request (and what builder.out held when it was called) and
// answers success, or an error once told to fail. Thread-safe: the engine publishes from its
// worker pool.

#include "artifacts/publisher.hpp"

#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace softpack::testing {

class FakePublisher final : public artifacts::Publisher {
public:
  struct Call {
    artifacts::PublishRequest request;
    std::optional<std::string> builder_out; // out_dir/builder.out at the time of the call
  };

  explicit FakePublisher(std::string name = "fake", bool publishes_failures = true)
      : m_name(std::move(name)), m_publishes_failures(publishes_failures) {}

  std::string name() const override { return m_name; }
  bool publishes_failures() const override { return m_publishes_failures; }
  Expected<artifacts::PublishResult> publish(const artifacts::PublishRequest& request) override;

  // From now on, publish() returns an error of this kind with this message (io: retried).
  void fail_with(std::string message, ErrorKind kind = ErrorKind::io);
  // From now on, publish() throws std::runtime_error for builds of environments named `name`
  // (as a buggy publisher would); "" stops it.
  void throw_for_environment(std::string name);
  // From now on, publish() succeeds.
  void recover();
  std::vector<Call> calls() const;
  std::size_t call_count() const;

private:
  mutable std::mutex m_mutex;
  std::vector<Call> m_calls;
  std::string m_name;
  bool m_publishes_failures;
  std::optional<Error> m_failure;
  std::string m_throw_for;
};

} // namespace softpack::testing
