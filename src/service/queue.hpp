#pragma once

// Builds waiting for a slot: accepted and stored as `queued`, started oldest first whenever
// fewer than the limit are in flight, skipping those the caller holds back (a user with
// server.max_builds_per_user builds in flight). The queue itself is memory; the store's `queued`
// state is what survives a restart (the service queues those builds again, in request order).

#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace softpack::service {

class BuildQueue {
public:
  explicit BuildQueue(std::size_t max_in_flight) : m_max_in_flight(max_in_flight) {}

  void push(std::string build_id) { m_ids.push_back(std::move(build_id)); }
  // A build cancelled while it waits.
  void remove(const std::string& build_id);
  // The next build to start when `in_flight` builds are running, or nullopt (none waiting, or
  // no slot free). The build is taken off the queue.
  // With `may_start`, the oldest build it accepts; the builds it refuses keep their place
  // (nullopt when it accepts none).
  std::optional<std::string> next(std::size_t in_flight,
                                  const std::function<bool(const std::string&)>& may_start = {});
  // Whether a build could start now, were it not held back.
  bool slot_free(std::size_t in_flight) const { return in_flight < m_max_in_flight; }
  std::size_t max_in_flight() const { return m_max_in_flight; }
  // The waiting builds, oldest first.
  std::vector<std::string> waiting() const { return {m_ids.begin(), m_ids.end()}; }
  std::size_t size() const { return m_ids.size(); }

private:
  std::size_t m_max_in_flight;
  std::deque<std::string> m_ids; // oldest first
};

} // namespace softpack::service
