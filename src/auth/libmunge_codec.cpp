// The only <munge.h> user. libmunge's contexts are not thread-safe and munge(3) asks for separate
// contexts for encoding and decoding, so every call makes its own and destroys it.

#include "auth/munge_codec.hpp"

#include <cstdlib>
#include <memory>
#include <munge.h>

#include <climits>

namespace softpack::auth {
namespace {

struct ContextDeleter {
  void operator()(munge_ctx_t ctx) const { munge_ctx_destroy(ctx); }
};
using Context = std::unique_ptr<std::remove_pointer_t<munge_ctx_t>, ContextDeleter>;

// libmunge malloc()s the credential and the payload; the caller free()s them.
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

std::string describe(munge_ctx_t ctx, munge_err_t code) {
  const char* text = ctx ? munge_ctx_strerror(ctx) : nullptr;
  if (!text) {
    text = munge_strerror(code);
  }
  return text ? std::string(text) : "MUNGE error " + std::to_string(static_cast<int>(code));
}

MungeStatus status_of(munge_err_t code) {
  switch (code) {
  case EMUNGE_SUCCESS:
    return MungeStatus::ok;
  case EMUNGE_CRED_EXPIRED:
    return MungeStatus::expired;
  case EMUNGE_CRED_REWOUND:
    return MungeStatus::rewound;
  case EMUNGE_CRED_REPLAYED:
    return MungeStatus::replayed;
  case EMUNGE_CRED_INVALID:
    return MungeStatus::invalid;
  case EMUNGE_BAD_CRED:
  case EMUNGE_BAD_VERSION:
  case EMUNGE_BAD_CIPHER:
  case EMUNGE_BAD_MAC:
  case EMUNGE_BAD_ZIP:
  case EMUNGE_BAD_REALM:
    return MungeStatus::malformed;
  case EMUNGE_CRED_UNAUTHORIZED:
    return MungeStatus::unauthorized;
  default:
    // SNAFU, BAD_ARG, BAD_LENGTH, OVERFLOW, NO_MEMORY, SOCKET, TIMEOUT: our side (or munged's),
    // not the caller's credential; worth retrying.
    return MungeStatus::unavailable;
  }
}

class LibMungeCodec final : public MungeCodec {
public:
  explicit LibMungeCodec(std::string socket_path) : m_socket_path(std::move(socket_path)) {}

  Expected<std::string> encode(std::string_view payload, int ttl_seconds) override {
    if (payload.size() > static_cast<std::size_t>(INT_MAX)) {
      return make_error(ErrorKind::invalid_input, "MUNGE payload too long", "munge_encode");
    }
    Context ctx(munge_ctx_create());
    if (!ctx) {
      return make_error(ErrorKind::transient, "cannot create a MUNGE context (out of memory)",
                        "munge_encode");
    }
    if (auto e = use_socket(ctx.get()); e != EMUNGE_SUCCESS) {
      return encode_error(ctx.get(), e);
    }
    if (auto e = munge_ctx_set(ctx.get(), MUNGE_OPT_TTL, ttl_seconds); e != EMUNGE_SUCCESS) {
      return encode_error(ctx.get(), e);
    }
    char* raw = nullptr;
    const munge_err_t e = munge_encode(&raw, ctx.get(), payload.empty() ? nullptr : payload.data(),
                                       static_cast<int>(payload.size()));
    std::unique_ptr<char, FreeDeleter> cred(raw);
    if (e != EMUNGE_SUCCESS) {
      return encode_error(ctx.get(), e);
    }
    if (!cred) {
      return make_error(ErrorKind::internal, "munge_encode succeeded without a credential",
                        "munge_encode");
    }
    return std::string(cred.get());
  }

  MungeDecoded decode(const std::string& credential) override {
    MungeDecoded out;
    if (credential.find('\0') != std::string::npos) {
      // libmunge reads a C string: it would decode only the part before the NUL.
      out.status = MungeStatus::malformed;
      out.detail = "credential contains a NUL byte";
      return out;
    }
    Context ctx(munge_ctx_create());
    if (!ctx) {
      out.status = MungeStatus::unavailable;
      out.detail = "cannot create a MUNGE context (out of memory)";
      return out;
    }
    if (auto e = use_socket(ctx.get()); e != EMUNGE_SUCCESS) {
      out.status = MungeStatus::unavailable;
      out.detail = describe(ctx.get(), e);
      return out;
    }
    void* raw = nullptr;
    int len = 0;
    // Sentinels: libmunge sets uid and gid only when it got far enough to know them.
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    const munge_err_t e = munge_decode(credential.c_str(), ctx.get(), &raw, &len, &uid, &gid);
    // munge(3): the payload is allocated for some errors too (expired, rewound, replayed).
    std::unique_ptr<void, FreeDeleter> payload(raw);
    out.status = status_of(e);
    if (e != EMUNGE_SUCCESS) {
      out.detail = describe(ctx.get(), e);
    }
    if (uid != static_cast<uid_t>(-1)) {
      out.uid = static_cast<std::uint32_t>(uid);
    }
    if (gid != static_cast<gid_t>(-1)) {
      out.gid = static_cast<std::uint32_t>(gid);
    }
    if (payload && len > 0) {
      out.payload.assign(static_cast<const char*>(payload.get()), static_cast<std::size_t>(len));
    }
    return out;
  }

private:
  munge_err_t use_socket(munge_ctx_t ctx) const {
    if (m_socket_path.empty()) {
      return EMUNGE_SUCCESS;
    }
    return munge_ctx_set(ctx, MUNGE_OPT_SOCKET, m_socket_path.c_str());
  }

  Error encode_error(munge_ctx_t ctx, munge_err_t code) const {
    const ErrorKind kind = code == EMUNGE_BAD_ARG || code == EMUNGE_BAD_LENGTH
                               ? ErrorKind::invalid_input
                               : ErrorKind::transient;
    return make_error(kind, "cannot make a MUNGE credential: " + describe(ctx, code),
                      m_socket_path.empty() ? "munge_encode" : "munge_encode " + m_socket_path);
  }

  std::string m_socket_path;
};

} // namespace

std::unique_ptr<MungeCodec> make_libmunge_codec(std::string socket_path) {
  return std::make_unique<LibMungeCodec>(std::move(socket_path));
}

} // namespace softpack::auth
