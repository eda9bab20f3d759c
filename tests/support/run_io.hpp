#pragma once

// Drives an io_context in a test until a condition holds.

#include <chrono>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace softpack::testing {

// Runs `io` one handler at a time (waiting at most `step` for one) until `done()` holds or
// `limit` has passed; returns whether it held.
template <typename Pred>
bool run_io_until(boost::asio::io_context& io, Pred done, std::chrono::milliseconds limit,
                  std::chrono::milliseconds step) {
  auto guard = boost::asio::make_work_guard(io);
  if (io.stopped()) {
    io.restart();
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    io.run_one_for(step);
  }
  return true;
}

} // namespace softpack::testing
