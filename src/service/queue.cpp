#include "service/queue.hpp"

#include <algorithm>

namespace softpack::service {

void BuildQueue::remove(const std::string& build_id) {
  std::erase(m_ids, build_id);
}

std::optional<std::string> BuildQueue::next(std::size_t in_flight) {
  if (m_ids.empty() || in_flight >= m_max_in_flight) {
    return std::nullopt;
  }
  std::string id = std::move(m_ids.front());
  m_ids.pop_front();
  return id;
}

} // namespace softpack::service
