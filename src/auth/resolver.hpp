#pragma once

// From what a request carries to who sent it: MUNGE (decode, check the binding, find the
// account) or SO_PEERCRED (find the account). Blocking (munged, NSS): run off the event loop.

#include "auth/accounts.hpp"
#include "auth/identity.hpp"
#include "auth/munge_codec.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace softpack::auth {

struct AuthFailure {
  int status = 401; // 401: the caller's credential; 503: we could not check it
  std::string message;
};

using Resolution = std::variant<Principal, AuthFailure>;

// A user principal (via "munge") when the credential decodes, its payload is
// request_binding(method, target, body), and its uid has an account; else why not.
Resolution resolve_munge(const std::string& credential, std::string_view method,
                         std::string_view target, std::string_view body, MungeCodec& codec,
                         Accounts& accounts);

// A user principal (via "socket") for a peer's uid.
Resolution resolve_peer(std::uint32_t uid, Accounts& accounts);

} // namespace softpack::auth
