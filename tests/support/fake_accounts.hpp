#pragma once

// Accounts from a map: by_uid() answers the account added for that uid, not_found for others,
// or the error set with fail() for every uid. Counts the calls. Thread-safe.

#include "auth/accounts.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace softpack::testing {

class FakeAccounts final : public auth::Accounts {
public:
  FakeAccounts& add(auth::Account account) {
    std::lock_guard lock(m_mutex);
    const auto uid = account.uid;
    m_accounts[uid] = std::move(account);
    return *this;
  }
  // The common case: login, uid, and groups (the primary group first; gid = uid).
  FakeAccounts& add(std::string login, std::uint32_t uid, std::vector<std::string> groups = {}) {
    return add(auth::Account{std::move(login), uid, uid, std::move(groups)});
  }
  // Every by_uid() fails with `e` (NSS down) until cleared.
  void fail(std::optional<Error> e) {
    std::lock_guard lock(m_mutex);
    m_error = std::move(e);
  }
  int calls() const {
    std::lock_guard lock(m_mutex);
    return m_calls;
  }

  Expected<auth::Account> by_uid(std::uint32_t uid) override {
    std::lock_guard lock(m_mutex);
    ++m_calls;
    if (m_error) {
      return *m_error;
    }
    const auto it = m_accounts.find(uid);
    if (it == m_accounts.end()) {
      return make_error(ErrorKind::not_found, "uid " + std::to_string(uid) + " has no account");
    }
    return it->second;
  }

private:
  mutable std::mutex m_mutex;
  std::map<std::uint32_t, auth::Account> m_accounts;
  std::optional<Error> m_error;
  int m_calls = 0;
};

} // namespace softpack::testing
