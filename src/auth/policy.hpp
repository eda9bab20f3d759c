#pragma once

// What an authenticated caller may do: pure.
//   users: build, rebuild and cancel under users/<login>, and under groups/<g> when a member
//          of g (the account's groups); read anything;
//   admins (server.admins users or groups): anything;
//   tokens: their routes ("build", "cancel", "read", "all"), in any space;
//   softpack-core (the address rule): build and read;
//   webhook: build (its own route only).

#include "auth/identity.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace softpack::auth {

enum class Action { read, build, cancel };

struct Policy {
  std::vector<std::string> admin_users;
  std::vector<std::string> admin_groups;
};

struct Decision {
  bool allowed = false;
  std::string reason; // why not, for the 403 and the audit line: "alice is not in group hgi"
};

// `env_path`: "users/<owner>" or "groups/<group>" (empty for read); a trailing "/<environment>"
// is ignored. Anything else is refused to users (tokens, core and the webhook are not bound to
// a space). Admin users match a user principal's name, admin groups any of its groups.
Decision authorize(const Principal& who, Action action, std::string_view env_path,
                   const Policy& policy);

std::string_view action_name(Action action); // "read", "build", "cancel"

} // namespace softpack::auth
