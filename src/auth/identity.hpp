#pragma once

// Who asked: the value types every layer passes around (server -> service -> flow -> store,
// scheduler comments, builder.out). No I/O here: resolving a credential to a Principal is
// auth/resolver (MUNGE, SO_PEERCRED, NSS), deciding what it may do is auth/policy.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace softpack::auth {

// Who a build is attributed to, as recorded and shown.
struct Requester {
  enum class Kind {
    none,    // not known (builds recorded before identities, local `run`)
    user,    // a login, identified by MUNGE or the Unix socket (uid set)
    token,   // a named bearer token (name = the token's name)
    core,    // softpack-core, by the address rule server.core_clients (name = its address)
    webhook, // a GitLab push (name = the pusher's GitLab user name, when known)
  };
  Kind kind = Kind::none;
  std::string name;
  std::optional<std::uint32_t> uid;

  // "alice", "token ci", "softpack-core 10.0.0.5", "webhook bob", "" for none.
  std::string display() const;
  // For people (builder.out, logs): display() with the uid, "alice (uid 1001)"; bytes that are
  // not printable ASCII shown as \xNN (the text goes into files and terminals, one line).
  std::string describe() const;
  // Builds from users count against server.max_builds_per_user; the others do not.
  bool is_user() const { return kind == Kind::user; }
  bool operator==(const Requester&) const = default;
};

// "none", "user", "token", "core", "webhook".
std::string_view kind_name(Requester::Kind kind);
// The inverse of kind_name; nullopt for anything else (a store row from a newer version).
std::optional<Requester::Kind> parse_kind(std::string_view name);

// An authenticated caller: who, and what the policy needs to know of them.
struct Principal {
  Requester who;
  std::uint32_t gid = 0;           // users: the primary gid of the account
  std::vector<std::string> groups; // users: names of every group of the login (getgrouplist)
  std::vector<std::string>
      routes;      // tokens: what the token may do ("build", "cancel", "read", "all")
  std::string via; // "munge", "socket", "token", "core", "webhook"
};

} // namespace softpack::auth
