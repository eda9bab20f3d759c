#pragma once

// Per-name request rate limit (a token bucket per caller): pure, the time passed in.

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace softpack::auth {

class RateLimiter {
public:
  using Time = std::chrono::steady_clock::time_point;
  // `requests` per `per`; requests <= 0: no limit.
  RateLimiter(int requests, std::chrono::seconds per);
  // nullopt: allowed (and counted); else how long until one more is allowed (>= 1 s).
  std::optional<std::chrono::seconds> take(const std::string& name, Time now);

private:
  struct Bucket {
    double tokens = 0;
    Time updated;
  };
  int m_requests;
  std::chrono::seconds m_per;
  std::map<std::string, Bucket> m_buckets; // idle full buckets are dropped as they are seen
};

} // namespace softpack::auth
