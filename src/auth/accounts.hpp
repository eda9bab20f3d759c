#pragma once

// Accounts of this host through NSS (getpwuid_r, getgrouplist, getgrgid_r: /etc/passwd, LDAP,
// SSSD alike); nss_accounts.cpp is the only getpw*/getgr* user. Calls may block (LDAP): never on
// the event loop. Fake: tests/support/fake_accounts.hpp.

#include "util/error.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace softpack::auth {

struct Account {
  std::string login;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::vector<std::string> groups; // names of all the login's groups, the primary one included
};

class Accounts {
public:
  virtual ~Accounts() = default;
  // ErrorKind::not_found when the uid has no account; ErrorKind::io when NSS fails.
  virtual Expected<Account> by_uid(std::uint32_t uid) = 0;
};

// NSS, with answers cached for `cache_seconds` (group changes show within that). Thread-safe.
std::unique_ptr<Accounts> make_nss_accounts(int cache_seconds = 60);

} // namespace softpack::auth
