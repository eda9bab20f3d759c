#pragma once

// A Clock the test moves by hand. Thread-safe (the engine reads it from its worker pool).

#include "util/time.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>

namespace softpack::testing {

class ManualClock final : public Clock {
public:
  explicit ManualClock(std::int64_t start_unix_seconds = 1795592695) // 2026-11-25T07:44:55Z
      : m_now(from_unix_seconds(start_unix_seconds)) {}
  SystemTime now() const override {
    std::lock_guard lock(m_mutex);
    return m_now;
  }
  void advance(std::chrono::seconds d) {
    std::lock_guard lock(m_mutex);
    m_now += d;
  }

private:
  mutable std::mutex m_mutex;
  SystemTime m_now;
};

} // namespace softpack::testing
