#include "auth/policy.hpp"

#include <catch2/catch.hpp>

using namespace softpack::auth;

namespace {

Principal user(std::string login, std::vector<std::string> groups = {}) {
  Principal p;
  p.who = Requester{Requester::Kind::user, login, 1001};
  p.gid = 1001;
  p.groups = std::move(groups);
  p.via = "munge";
  return p;
}

Principal token(std::string name, std::vector<std::string> routes) {
  Principal p;
  p.who = Requester{Requester::Kind::token, std::move(name), std::nullopt};
  p.routes = std::move(routes);
  p.via = "token";
  return p;
}

Principal of_kind(Requester::Kind kind, std::string name = {}) {
  Principal p;
  p.who = Requester{kind, std::move(name), std::nullopt};
  return p;
}

const Policy k_no_admins{};

} // namespace

TEST_CASE("auth policy: users build and cancel in their own space", "[auth]") {
  const auto alice = user("alice", {"alice", "hgi"});
  for (auto action : {Action::build, Action::cancel}) {
    INFO(action_name(action));
    CHECK(authorize(alice, action, "users/alice", k_no_admins).allowed);
    CHECK(authorize(alice, action, "users/alice/env-1", k_no_admins).allowed);
  }
}

TEST_CASE("auth policy: not in another user's space", "[auth]") {
  const auto alice = user("alice", {"alice", "hgi"});
  auto d = authorize(alice, Action::build, "users/bob", k_no_admins);
  CHECK_FALSE(d.allowed);
  CHECK(d.reason == "alice may only build in users/alice and groups they are in, not users/bob");
  d = authorize(alice, Action::cancel, "users/bob/env-1", k_no_admins);
  CHECK_FALSE(d.allowed);
  CHECK(d.reason == "alice may only cancel in users/alice and groups they are in, not users/bob");
  // A group named like the user is no way into users/<that name>.
  CHECK_FALSE(authorize(user("alice", {"bob"}), Action::build, "users/bob", k_no_admins).allowed);
  // Nor is a prefix of the login.
  CHECK_FALSE(authorize(alice, Action::build, "users/alic", k_no_admins).allowed);
  CHECK_FALSE(authorize(alice, Action::build, "users/alice2", k_no_admins).allowed);
}

TEST_CASE("auth policy: groups the user is in, and not others", "[auth]") {
  const auto alice = user("alice", {"alice", "hgi"});
  CHECK(authorize(alice, Action::build, "groups/hgi", k_no_admins).allowed);
  CHECK(authorize(alice, Action::cancel, "groups/hgi/env-1", k_no_admins).allowed);
  const auto d = authorize(alice, Action::build, "groups/cellgeni", k_no_admins);
  CHECK_FALSE(d.allowed);
  CHECK(d.reason == "alice is not in group cellgeni");
  CHECK(authorize(user("bob", {"bob"}), Action::build, "groups/hgi", k_no_admins).reason ==
        "bob is not in group hgi");
}

TEST_CASE("auth policy: paths that are no space are refused to users", "[auth]") {
  const auto alice = user("alice", {"alice"});
  for (const char* path : {"", "alice", "users/", "users", "projects/alice", "groups/"}) {
    INFO(path);
    const auto d = authorize(alice, Action::build, path, k_no_admins);
    CHECK_FALSE(d.allowed);
    CHECK_FALSE(d.reason.empty());
  }
}

TEST_CASE("auth policy: admin users and admin groups may do anything", "[auth]") {
  const Policy policy{{"root"}, {"softpack-admins"}};
  const auto root = user("root", {"root"});
  CHECK(authorize(root, Action::build, "users/bob", policy).allowed);
  CHECK(authorize(root, Action::cancel, "groups/hgi", policy).allowed);
  const auto carol = user("carol", {"carol", "softpack-admins"});
  CHECK(authorize(carol, Action::cancel, "users/bob", policy).allowed);
  CHECK(authorize(carol, Action::build, "groups/hgi", policy).allowed);
  // Not an admin: the name is not listed and no group is.
  CHECK_FALSE(authorize(user("dave", {"dave", "hgi"}), Action::build, "users/bob", policy).allowed);
  // A group listed among admin users does not count, nor a user name among admin groups.
  const Policy crossed{{"softpack-admins"}, {"carol"}};
  CHECK_FALSE(
      authorize(user("carol", {"softpack-admins"}), Action::build, "users/bob", crossed).allowed);
  // Admin users are users: a token named like one is not an admin.
  CHECK_FALSE(authorize(token("root", {"build"}), Action::cancel, "users/bob", policy).allowed);
}

TEST_CASE("auth policy: tokens may do their routes, in any space", "[auth]") {
  const auto ci = token("ci", {"build", "read"});
  CHECK(authorize(ci, Action::build, "users/bob", k_no_admins).allowed);
  CHECK(authorize(ci, Action::build, "groups/hgi", k_no_admins).allowed);
  const auto d = authorize(ci, Action::cancel, "users/bob", k_no_admins);
  CHECK_FALSE(d.allowed);
  CHECK(d.reason == "token ci may not cancel");
  CHECK(authorize(token("ops", {"cancel"}), Action::build, "users/bob", k_no_admins).reason ==
        "token ops may not build");
  CHECK(authorize(token("ops", {"cancel"}), Action::cancel, "users/bob", k_no_admins).allowed);
  const auto api = token("api", {"all"});
  CHECK(authorize(api, Action::build, "users/bob", k_no_admins).allowed);
  CHECK(authorize(api, Action::cancel, "groups/hgi", k_no_admins).allowed);
  CHECK_FALSE(authorize(token("none", {}), Action::build, "users/bob", k_no_admins).allowed);
}

TEST_CASE("auth policy: softpack-core builds and reads", "[auth]") {
  const auto core = of_kind(Requester::Kind::core, "10.0.0.5");
  CHECK(authorize(core, Action::build, "users/bob", k_no_admins).allowed);
  CHECK(authorize(core, Action::read, "", k_no_admins).allowed);
  const auto d = authorize(core, Action::cancel, "users/bob", k_no_admins);
  CHECK_FALSE(d.allowed);
  CHECK(d.reason == "softpack-core may only build and read");
}

TEST_CASE("auth policy: the webhook only builds", "[auth]") {
  const auto hook = of_kind(Requester::Kind::webhook, "bob");
  CHECK(authorize(hook, Action::build, "groups/hgi", k_no_admins).allowed);
  const auto d = authorize(hook, Action::cancel, "groups/hgi", k_no_admins);
  CHECK_FALSE(d.allowed);
  CHECK(d.reason == "the webhook may only build");
}

TEST_CASE("auth policy: every principal reads, nobody unauthenticated does anything", "[auth]") {
  for (const auto& p : {user("alice"), token("ci", {}), of_kind(Requester::Kind::core),
                        of_kind(Requester::Kind::webhook)}) {
    INFO(p.who.display());
    CHECK(authorize(p, Action::read, "", k_no_admins).allowed);
    CHECK(authorize(p, Action::read, "users/somebody-else", k_no_admins).allowed);
  }
  const Policy everyone{{""}, {""}};
  for (auto action : {Action::read, Action::build, Action::cancel}) {
    const auto d = authorize(Principal{}, action, "users/alice", everyone);
    CHECK_FALSE(d.allowed);
    CHECK(d.reason == "not authenticated");
  }
}

TEST_CASE("auth policy: action names", "[auth]") {
  CHECK(action_name(Action::read) == "read");
  CHECK(action_name(Action::build) == "build");
  CHECK(action_name(Action::cancel) == "cancel");
}
