#include "auth/policy.hpp"

#include "util/text.hpp"

#include <algorithm>
#include <optional>

namespace softpack::auth {
namespace {

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

Decision allow() {
  return {true, {}};
}
Decision deny(std::string reason) {
  return {false, std::move(reason)};
}

bool is_admin(const Principal& p, const Policy& policy) {
  if (contains(policy.admin_users, p.who.name)) {
    return true;
  }
  return std::any_of(p.groups.begin(), p.groups.end(),
                     [&](const std::string& g) { return contains(policy.admin_groups, g); });
}

struct Space {
  std::string_view kind; // "users" or "groups"
  std::string_view name;
};

// "users/<owner>" or "groups/<group>", optionally followed by "/<environment>".
std::optional<Space> parse_space(std::string_view path) {
  const auto slash = path.find('/');
  if (slash == std::string_view::npos) {
    return std::nullopt;
  }
  Space space{path.substr(0, slash), path.substr(slash + 1)};
  if (const auto next = space.name.find('/'); next != std::string_view::npos) {
    space.name = space.name.substr(0, next);
  }
  if ((space.kind != "users" && space.kind != "groups") || space.name.empty()) {
    return std::nullopt;
  }
  return space;
}

Decision authorize_user(const Principal& p, Action action, std::string_view env_path,
                        const Policy& policy) {
  if (is_admin(p, policy)) {
    return allow();
  }
  const std::string& login = p.who.name;
  const auto space = parse_space(env_path);
  if (!space) {
    return deny(login + " may not " + std::string(action_name(action)) + " '" +
                printable(env_path, 80) + "': not users/<owner> or groups/<group>");
  }
  if (space->kind == "users") {
    if (space->name == login) {
      return allow();
    }
    return deny(login + " may only " + std::string(action_name(action)) + " in users/" + login +
                " and groups they are in, not users/" + printable(space->name, 80));
  }
  if (contains(p.groups, space->name)) {
    return allow();
  }
  return deny(login + " is not in group " + printable(space->name, 80));
}

} // namespace

std::string_view action_name(Action action) {
  switch (action) {
  case Action::read:
    return "read";
  case Action::build:
    return "build";
  case Action::cancel:
    return "cancel";
  }
  return "read";
}

Decision authorize(const Principal& who, Action action, std::string_view env_path,
                   const Policy& policy) {
  if (who.who.kind == Requester::Kind::none) {
    return deny("not authenticated");
  }
  if (action == Action::read) {
    return allow();
  }
  switch (who.who.kind) {
  case Requester::Kind::user:
    return authorize_user(who, action, env_path, policy);
  case Requester::Kind::token:
    if (contains(who.routes, "all") || contains(who.routes, action_name(action))) {
      return allow();
    }
    return deny("token " + who.who.name + " may not " + std::string(action_name(action)));
  case Requester::Kind::core:
    if (action == Action::build) {
      return allow();
    }
    return deny("softpack-core may only build and read");
  case Requester::Kind::webhook:
    if (action == Action::build) {
      return allow();
    }
    return deny("the webhook may only build");
  case Requester::Kind::none:
    break;
  }
  return deny("not authenticated");
}

} // namespace softpack::auth
