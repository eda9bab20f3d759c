#include "support/fake_publisher.hpp"

#include "util/fs.hpp"

namespace softpack::testing {

Expected<artifacts::PublishResult>
FakePublisher::publish(const artifacts::PublishRequest& request) {
  Call call{request, std::nullopt};
  if (auto text = read_file_if_exists(request.out_dir / "builder.out"); text && text->has_value()) {
    call.builder_out = **text;
  }
  std::lock_guard lock(m_mutex);
  m_calls.push_back(std::move(call));
  if (!m_throw_for.empty() && request.spec->name == m_throw_for) {
    throw std::runtime_error("fake publisher threw for " + request.spec->full_name());
  }
  if (m_failure) {
    return *m_failure;
  }
  return artifacts::PublishResult{m_name, m_name + "-ref-" + request.build_id};
}

void FakePublisher::fail_with(std::string message, ErrorKind kind) {
  std::lock_guard lock(m_mutex);
  m_failure = make_error(kind, std::move(message), m_name + " publisher");
}

void FakePublisher::throw_for_environment(std::string name) {
  std::lock_guard lock(m_mutex);
  m_throw_for = std::move(name);
}

void FakePublisher::recover() {
  std::lock_guard lock(m_mutex);
  m_failure.reset();
}

std::vector<FakePublisher::Call> FakePublisher::calls() const {
  std::lock_guard lock(m_mutex);
  return m_calls;
}

std::size_t FakePublisher::call_count() const {
  std::lock_guard lock(m_mutex);
  return m_calls.size();
}

} // namespace softpack::testing
