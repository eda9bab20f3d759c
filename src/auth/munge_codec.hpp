#pragma once

// MUNGE credentials (munge(3)): the interface, and the libmunge implementation
// (libmunge_codec.cpp, the only <munge.h> user). Calls block (a round trip to munged, with its
// own timeouts and retries): never on the event loop. Fake: tests/support/fake_munge_codec.hpp.

#include "util/error.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace softpack::auth {

enum class MungeStatus {
  ok,
  expired,      // EMUNGE_CRED_EXPIRED: older than its TTL (or clocks apart)
  rewound,      // EMUNGE_CRED_REWOUND: made in the future (clocks apart)
  replayed,     // EMUNGE_CRED_REPLAYED: already decoded on this host
  invalid,      // EMUNGE_CRED_INVALID: another key (realm), or altered
  malformed,    // EMUNGE_BAD_CRED .. EMUNGE_BAD_REALM: not a credential we can read
  unauthorized, // EMUNGE_CRED_UNAUTHORIZED: uid/gid restriction excludes us
  unavailable,  // our side: munged not reachable, out of memory, ... (retryable: 503)
};

struct MungeDecoded {
  MungeStatus status = MungeStatus::unavailable;
  std::string payload;
  std::uint32_t uid = 0; // of the process that made it
  std::uint32_t gid = 0;
  std::string detail; // munge's own message (munge_ctx_strerror), for logs and 503s
};

class MungeCodec {
public:
  virtual ~MungeCodec() = default;
  // A credential carrying `payload`, valid for `ttl_seconds` (0 = munged's default).
  virtual Expected<std::string> encode(std::string_view payload, int ttl_seconds) = 0;
  virtual MungeDecoded decode(const std::string& credential) = 0;
};

// libmunge through munged's socket (`socket_path` "" = libmunge's default). Thread-safe: a
// fresh context per call.
std::unique_ptr<MungeCodec> make_libmunge_codec(std::string socket_path);

} // namespace softpack::auth
