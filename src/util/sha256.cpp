#include "util/sha256.hpp"

#include <new>
#include <stdexcept>

#include <openssl/evp.h>

namespace softpack {

// Owns one EVP_MD_CTX. The object exists only with a live, initialised context, so every
// member function can use it without checks.
struct Sha256::Context {
  Context() : ctx(EVP_MD_CTX_new()) {
    if (ctx == nullptr) {
      throw std::bad_alloc();
    }
  }
  ~Context() { EVP_MD_CTX_free(ctx); }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  EVP_MD_CTX* ctx;
};

namespace {

// libcrypto fails only when it cannot allocate or SHA-256 is not offered by the loaded
// providers: the hasher cannot go on, and no caller could recover.
void check(int ok, const char* what) {
  if (ok != 1) {
    throw std::runtime_error(std::string("libcrypto SHA-256: ") + what + " failed");
  }
}

} // namespace

Sha256::Sha256() : m_context(std::make_unique<Context>()) {
  check(EVP_DigestInit_ex(m_context->ctx, EVP_sha256(), nullptr), "EVP_DigestInit_ex");
}

Sha256::~Sha256() = default;

Sha256::Sha256(const Sha256& other) : m_context(std::make_unique<Context>()) {
  check(EVP_MD_CTX_copy_ex(m_context->ctx, other.m_context->ctx), "EVP_MD_CTX_copy_ex");
}

Sha256& Sha256::operator=(const Sha256& other) {
  if (this != &other) {
    check(EVP_MD_CTX_copy_ex(m_context->ctx, other.m_context->ctx), "EVP_MD_CTX_copy_ex");
  }
  return *this;
}

void Sha256::update(std::string_view data) {
  check(EVP_DigestUpdate(m_context->ctx, data.data(), data.size()), "EVP_DigestUpdate");
}

std::array<std::uint8_t, 32> Sha256::digest() const {
  // Finalising ends a context, so it is done on a copy: the caller may keep feeding this one.
  Sha256 tail(*this);
  std::array<std::uint8_t, 32> out{};
  unsigned int length = 0;
  check(EVP_DigestFinal_ex(tail.m_context->ctx, out.data(), &length), "EVP_DigestFinal_ex");
  if (length != out.size()) {
    throw std::runtime_error("libcrypto SHA-256: digest of " + std::to_string(length) +
                             " bytes, expected 32");
  }
  return out;
}

std::string Sha256::hex_digest() const {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (std::uint8_t byte : digest()) {
    out += k_hex[byte >> 4];
    out += k_hex[byte & 0xf];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.hex_digest();
}

} // namespace softpack
