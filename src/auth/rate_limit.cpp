#include "auth/rate_limit.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace softpack::auth {
namespace {

// Slack for floating-point refills: 1e-9 of a token is not worth a second of waiting.
constexpr double k_epsilon = 1e-9;
// Full buckets are swept from the map once it holds this many (or twice as many as after the
// last sweep), so a sweep costs O(1) per take() on average.
constexpr std::size_t k_min_sweep = 64;

double seconds_between(RateLimiter::Time from, RateLimiter::Time to) {
  if (to <= from) {
    return 0; // steady_clock never goes back, but a caller's time points may be out of order
  }
  return std::chrono::duration<double>(to - from).count();
}

} // namespace

RateLimiter::RateLimiter(int requests, std::chrono::seconds per)
    : m_requests(requests), m_per(per) {}

std::optional<std::chrono::seconds> RateLimiter::take(const std::string& name, Time now) {
  if (m_requests <= 0 || m_per.count() <= 0) {
    return std::nullopt;
  }
  const double capacity = m_requests;
  const double rate = capacity / static_cast<double>(m_per.count()); // tokens per second
  const auto refilled = [&](const Bucket& b) {
    return std::min(capacity, b.tokens + seconds_between(b.updated, now) * rate);
  };

  // A full bucket is the same as none: drop them, so memory follows the callers of the last
  // `per`, not every caller ever seen.
  if (m_buckets.size() >= std::max(k_min_sweep, 2 * m_swept_size)) {
    std::erase_if(m_buckets,
                  [&](const auto& kv) { return refilled(kv.second) >= capacity - k_epsilon; });
    m_swept_size = m_buckets.size();
  }

  auto it = m_buckets.find(name);
  if (it == m_buckets.end()) {
    it = m_buckets.emplace(name, Bucket{capacity, now}).first;
  }
  Bucket& bucket = it->second;
  bucket.tokens = refilled(bucket);
  bucket.updated = std::max(bucket.updated, now);
  if (bucket.tokens >= 1 - k_epsilon) {
    bucket.tokens = std::max(0.0, bucket.tokens - 1);
    return std::nullopt;
  }
  const double wait = (1 - bucket.tokens) / rate;
  const auto whole = static_cast<std::int64_t>(std::ceil(wait - k_epsilon));
  return std::chrono::seconds(std::max<std::int64_t>(1, whole));
}

} // namespace softpack::auth
