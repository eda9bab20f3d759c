#pragma once

// A Publisher that records every request (and what builder.out held when it was called) and
// answers success, or an error once told to fail. Thread-safe: the engine publishes from its
// worker pool.

#include "artifacts/publisher.hpp"

#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace softpack::testing {

class FakePublisher final : public artifacts::Publisher {
public:
  struct Call {
    artifacts::PublishRequest request;
    std::optional<std::string> builder_out; // out_dir/builder.out at the time of the call
  };

  Expected<artifacts::PublishResult> publish(const artifacts::PublishRequest& request) override;

  // From now on, publish() returns an io error with this message.
  void fail_with(std::string message);
  std::vector<Call> calls() const;
  std::size_t call_count() const;

private:
  mutable std::mutex m_mutex;
  std::vector<Call> m_calls;
  std::optional<std::string> m_failure;
};

} // namespace softpack::testing
