// The only getpw*/getgr* user. The reentrant calls take a caller's buffer whose right size is
// only a hint (sysconf may say -1), so each grows it on ERANGE up to a bound.

#include "auth/accounts.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <grp.h>
#include <map>
#include <mutex>
#include <pwd.h>
#include <unistd.h>

namespace softpack::auth {
namespace {

constexpr std::size_t k_default_buffer = 16384;
// An entry bigger than this is a broken NSS source, not a big group.
constexpr std::size_t k_max_buffer = std::size_t{64} << 20;
// getgrouplist may need a bigger list if membership grows between calls; a few rounds suffice.
constexpr int k_group_list_rounds = 8;

std::size_t initial_buffer(int name) {
  const long hint = ::sysconf(name);
  return hint > 0 ? static_cast<std::size_t>(hint) : k_default_buffer;
}

// getpwuid_r(3): "not found" is 0 with no result, though some sources answer with these.
bool means_not_found(int rc) {
  return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM;
}

Error nss_error(std::string what, int rc) {
  return make_error(ErrorKind::io, std::move(what) + ": " + std::strerror(rc), "NSS");
}

Expected<Account> look_up_user(std::uint32_t uid) {
  std::vector<char> buffer(initial_buffer(_SC_GETPW_R_SIZE_MAX));
  passwd entry{};
  passwd* result = nullptr;
  for (;;) {
    const int rc =
        ::getpwuid_r(static_cast<uid_t>(uid), &entry, buffer.data(), buffer.size(), &result);
    if (rc == EINTR) {
      continue;
    }
    if (rc == ERANGE && buffer.size() < k_max_buffer) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (result) {
      break;
    }
    if (means_not_found(rc)) {
      return make_error(ErrorKind::not_found, "uid " + std::to_string(uid) + " has no account");
    }
    return nss_error("getpwuid_r(" + std::to_string(uid) + ")", rc);
  }
  Account account;
  account.login = entry.pw_name ? entry.pw_name : "";
  account.uid = static_cast<std::uint32_t>(entry.pw_uid);
  account.gid = static_cast<std::uint32_t>(entry.pw_gid);
  if (account.login.empty()) {
    return make_error(ErrorKind::io, "uid " + std::to_string(uid) + " has an empty login", "NSS");
  }
  return account;
}

Expected<std::vector<gid_t>> group_ids(const std::string& login, gid_t primary) {
  std::vector<gid_t> gids(32);
  for (int round = 0; round < k_group_list_rounds; ++round) {
    int count = static_cast<int>(gids.size());
    if (::getgrouplist(login.c_str(), primary, gids.data(), &count) != -1) {
      gids.resize(static_cast<std::size_t>(std::max(count, 0)));
      return gids;
    }
    // `count` is the size needed now; twice the old size if it says nothing useful.
    gids.resize(std::max(static_cast<std::size_t>(std::max(count, 0)), gids.size() * 2));
  }
  return make_error(ErrorKind::io, "getgrouplist(" + login + ") kept growing", "NSS");
}

// The group's name, or its number as text when it has none.
Expected<std::string> group_name(gid_t gid) {
  std::vector<char> buffer(initial_buffer(_SC_GETGR_R_SIZE_MAX));
  group entry{};
  group* result = nullptr;
  for (;;) {
    const int rc = ::getgrgid_r(gid, &entry, buffer.data(), buffer.size(), &result);
    if (rc == EINTR) {
      continue;
    }
    if (rc == ERANGE && buffer.size() < k_max_buffer) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (result && result->gr_name && result->gr_name[0] != '\0') {
      return std::string(result->gr_name);
    }
    if (result || means_not_found(rc)) {
      return std::to_string(gid);
    }
    return nss_error("getgrgid_r(" + std::to_string(gid) + ")", rc);
  }
}

Expected<Account> look_up(std::uint32_t uid) {
  auto account = look_up_user(uid);
  if (!account) {
    return account;
  }
  auto gids = group_ids(account->login, static_cast<gid_t>(account->gid));
  if (!gids) {
    return gids.error();
  }
  for (gid_t gid : *gids) {
    auto name = group_name(gid);
    if (!name) {
      return name.error();
    }
    if (std::find(account->groups.begin(), account->groups.end(), *name) == account->groups.end()) {
      account->groups.push_back(std::move(*name));
    }
  }
  return account;
}

class NssAccounts final : public Accounts {
public:
  explicit NssAccounts(int cache_seconds) : m_ttl(std::max(cache_seconds, 0)) {}

  Expected<Account> by_uid(std::uint32_t uid) override {
    const auto now = Clock::now();
    {
      std::lock_guard lock(m_mutex);
      if (auto it = m_cache.find(uid); it != m_cache.end() && now - it->second.at < m_ttl) {
        return it->second.account;
      }
    }
    // Outside the lock: NSS may take a while (LDAP), and other uids need not wait for it. Two
    // threads may look the same uid up at once; the later answer wins, both are fresh.
    auto found = look_up(uid);
    if (found && m_ttl.count() > 0) {
      std::lock_guard lock(m_mutex);
      std::erase_if(m_cache, [&](const auto& kv) { return now - kv.second.at >= m_ttl; });
      m_cache[uid] = Entry{*found, now};
    }
    // Not found and NSS errors are not cached: a new account, or a source back up, counts at
    // once.
    return found;
  }

private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    Account account;
    Clock::time_point at;
  };
  std::chrono::seconds m_ttl;
  std::mutex m_mutex;
  std::map<std::uint32_t, Entry> m_cache;
};

} // namespace

std::unique_ptr<Accounts> make_nss_accounts(int cache_seconds) {
  return std::make_unique<NssAccounts>(cache_seconds);
}

} // namespace softpack::auth
