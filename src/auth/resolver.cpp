#include "auth/resolver.hpp"

#include "auth/binding.hpp"

namespace softpack::auth {
namespace {

AuthFailure unauthenticated(std::string message) {
  return {401, std::move(message)};
}

// The 401 (or 503) for a credential munged would not vouch for. The credential itself is never
// quoted: it is a bearer secret until it expires.
AuthFailure refusal(const MungeDecoded& d) {
  switch (d.status) {
  case MungeStatus::ok:
    break;
  case MungeStatus::expired:
    return unauthenticated(
        "MUNGE credential expired (made more than its TTL ago; are the clocks in sync?)");
  case MungeStatus::rewound:
    return unauthenticated("MUNGE credential made in the future (are the clocks in sync?)");
  case MungeStatus::replayed:
    return unauthenticated("MUNGE credential already used: a credential is good for one request");
  case MungeStatus::invalid:
    return unauthenticated(
        "MUNGE credential invalid: made with another key (another MUNGE realm) or altered");
  case MungeStatus::malformed:
    return unauthenticated("malformed MUNGE credential: " + d.detail);
  case MungeStatus::unauthorized:
    return unauthenticated(
        "MUNGE credential may not be decoded by this service (uid/gid restriction)");
  case MungeStatus::unavailable:
    return {503, "cannot check MUNGE credentials: " + d.detail};
  }
  return {503, "cannot check MUNGE credentials: unexpected status"};
}

Resolution principal_of(std::uint32_t uid, Accounts& accounts, std::string via) {
  auto account = accounts.by_uid(uid);
  if (!account) {
    if (account.error().kind == ErrorKind::not_found) {
      return unauthenticated("uid " + std::to_string(uid) + " has no account on this host");
    }
    return AuthFailure{503, "cannot look up uid " + std::to_string(uid) + ": " +
                                account.error().message};
  }
  Principal p;
  p.who = Requester{Requester::Kind::user, account->login, account->uid};
  p.gid = account->gid;
  p.groups = std::move(account->groups);
  p.via = std::move(via);
  return p;
}

} // namespace

Resolution resolve_munge(const std::string& credential, std::string_view method,
                         std::string_view target, std::string_view body, MungeCodec& codec,
                         Accounts& accounts) {
  const MungeDecoded decoded = codec.decode(credential);
  if (decoded.status != MungeStatus::ok) {
    return refusal(decoded);
  }
  if (decoded.payload.empty()) {
    return unauthenticated("MUNGE credential carries no request binding");
  }
  if (decoded.payload != request_binding(method, target, body)) {
    return unauthenticated(
        "MUNGE credential was made for another request (method, path or body differ)");
  }
  return principal_of(decoded.uid, accounts, "munge");
}

Resolution resolve_peer(std::uint32_t uid, Accounts& accounts) {
  return principal_of(uid, accounts, "socket");
}

} // namespace softpack::auth
