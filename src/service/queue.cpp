#include "service/queue.hpp"

#include <algorithm>

namespace softpack::service {

void BuildQueue::remove(const std::string& build_id) {
  std::erase(m_ids, build_id);
}

std::optional<std::string>
BuildQueue::next(std::size_t in_flight, const std::function<bool(const std::string&)>& may_start) {
  if (!slot_free(in_flight)) {
    return std::nullopt;
  }
  auto it = may_start ? std::find_if(m_ids.begin(), m_ids.end(), may_start) : m_ids.begin();
  if (it == m_ids.end()) {
    return std::nullopt;
  }
  std::string id = std::move(*it);
  m_ids.erase(it);
  return id;
}

} // namespace softpack::service
