#pragma once

// A MungeCodec without munged: encode() makes "MUNGE:fake-<n>:" and remembers its payload and
// the uid/gid set here; decode() answers from what it made or was told (`answer`), and like
// munged answers `replayed` (payload and uid included) to a second decode of a credential that
// decoded ok. Unknown credentials are `invalid`. Thread-safe.

#include "auth/munge_codec.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace softpack::testing {

class FakeMungeCodec final : public auth::MungeCodec {
public:
  // What decode(credential) answers (the first time, for status ok).
  void answer(const std::string& credential, auth::MungeDecoded decoded) {
    std::lock_guard lock(m_mutex);
    m_answers[credential] = std::move(decoded);
  }
  // Whose credentials encode() makes from now on.
  void encode_as(std::uint32_t uid, std::uint32_t gid) {
    std::lock_guard lock(m_mutex);
    m_uid = uid;
    m_gid = gid;
  }
  // encode() fails with `e` (munged down) until cleared.
  void fail_encode(std::optional<Error> e) {
    std::lock_guard lock(m_mutex);
    m_encode_error = std::move(e);
  }
  // Every credential decode() was asked about, in order.
  std::vector<std::string> decoded() const {
    std::lock_guard lock(m_mutex);
    return m_calls;
  }

  Expected<std::string> encode(std::string_view payload, int /*ttl_seconds*/) override {
    std::lock_guard lock(m_mutex);
    if (m_encode_error) {
      return *m_encode_error;
    }
    std::string credential = "MUNGE:fake-" + std::to_string(++m_encoded) + ":";
    m_answers[credential] =
        auth::MungeDecoded{auth::MungeStatus::ok, std::string(payload), m_uid, m_gid, {}};
    return credential;
  }

  auth::MungeDecoded decode(const std::string& credential) override {
    std::lock_guard lock(m_mutex);
    m_calls.push_back(credential);
    const auto it = m_answers.find(credential);
    if (it == m_answers.end()) {
      return {auth::MungeStatus::invalid, {}, 0, 0, "Invalid credential"};
    }
    auth::MungeDecoded answer = it->second;
    if (answer.status == auth::MungeStatus::ok && !m_seen.insert(credential).second) {
      answer.status = auth::MungeStatus::replayed;
      answer.detail = "Replayed credential";
    }
    return answer;
  }

private:
  mutable std::mutex m_mutex;
  std::map<std::string, auth::MungeDecoded> m_answers;
  std::set<std::string> m_seen;
  std::vector<std::string> m_calls;
  std::optional<Error> m_encode_error;
  std::uint32_t m_uid = 1001;
  std::uint32_t m_gid = 1001;
  int m_encoded = 0;
};

} // namespace softpack::testing
