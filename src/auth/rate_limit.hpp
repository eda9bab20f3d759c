#pragma once

// Per-name request rate limit (a token bucket per caller): pure, the time passed in.

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>

namespace softpack::auth {

class RateLimiter {
public:
  using Time = std::chrono::steady_clock::time_point;
  // `requests` per `per`; requests <= 0 or per <= 0: no limit.
  RateLimiter(int requests, std::chrono::seconds per);
  // nullopt: allowed (and counted); else how long until one more is allowed (>= 1 s).
  std::optional<std::chrono::seconds> take(const std::string& name, Time now);
  // How many callers have a bucket (full ones may linger until the next sweep): for tests.
  std::size_t tracked() const { return m_buckets.size(); }

private:
  struct Bucket {
    double tokens = 0;
    Time updated;
  };
  int m_requests;
  std::chrono::seconds m_per;
  std::map<std::string, Bucket> m_buckets; // idle full buckets are dropped as they are seen
  std::size_t m_swept_size = 0;            // buckets left by the last sweep of full ones
};

} // namespace softpack::auth
