// NSS on this host: root exists everywhere, the test's own uid has an account, and a uid far
// above any allocator's range has none.

#include "auth/accounts.hpp"

#include <algorithm>
#include <pwd.h>
#include <unistd.h>

#include <catch2/catch.hpp>

using namespace softpack;
using namespace softpack::auth;

namespace {
bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}
} // namespace

TEST_CASE("auth accounts: uid 0 is root, in group root", "[auth]") {
  const auto accounts = make_nss_accounts();
  const auto root = accounts->by_uid(0);
  REQUIRE(root);
  CHECK(root->login == "root");
  CHECK(root->uid == 0);
  CHECK(root->gid == 0);
  CHECK(has(root->groups, "root"));
  // The cached answer is the same.
  const auto again = accounts->by_uid(0);
  REQUIRE(again);
  CHECK(again->login == "root");
  CHECK(again->groups == root->groups);
}

TEST_CASE("auth accounts: the test's own uid", "[auth]") {
  const auto accounts = make_nss_accounts(0); // no cache
  const auto uid = static_cast<std::uint32_t>(::getuid());
  const auto me = accounts->by_uid(uid);
  REQUIRE(me);
  const passwd* pw = ::getpwuid(uid); // single-threaded here: the plain call is fine for a check
  REQUIRE(pw);
  CHECK(me->login == pw->pw_name);
  CHECK(me->uid == uid);
  CHECK(me->gid == pw->pw_gid);
  CHECK_FALSE(me->groups.empty());
  // No duplicates.
  auto sorted = me->groups;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
}

TEST_CASE("auth accounts: a uid without an account is not_found", "[auth]") {
  const auto accounts = make_nss_accounts();
  const auto none = accounts->by_uid(4000000000u);
  REQUIRE_FALSE(none);
  CHECK(none.error().kind == ErrorKind::not_found);
  CHECK_THAT(none.error().message, Catch::Contains("4000000000"));
}
