#pragma once

// The Authorization header (RFC 7235: `<scheme> <credential>`, scheme case-insensitive), read
// without trusting it: pure, fuzzed (tests/fuzz/fuzz_authorization.cpp).

#include "util/error.hpp"

#include <string>
#include <string_view>

namespace softpack::auth {

// Longest credential taken (a MUNGE credential with our binding is ~ 250 bytes).
inline constexpr std::size_t k_max_credential = 8192;

struct AuthHeader {
  enum class Scheme { bearer, munge };
  Scheme scheme = Scheme::bearer;
  std::string credential; // printable ASCII, no spaces; MUNGE: "MUNGE:...:"
};

// ErrorKind::invalid_input with the reason (no credential text in it) for: no scheme or
// credential, an unknown scheme, a credential over k_max_credential, non-printable or
// whitespace inside it, a MUNGE credential without the "MUNGE:" armor and ':' ending.
Expected<AuthHeader> parse_authorization(std::string_view value);

} // namespace softpack::auth
