#pragma once

// SHA-256 (FIPS 180-4), for content hashes of specs and artifacts, computed by libcrypto
// (OpenSSL's EVP interface). Pure: no I/O. OpenSSL's types stay in sha256.cpp.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace softpack {

// Streaming hasher: feed bytes with update() in any chunking; digest() and hex_digest() report the
// hash of everything fed so far and leave the state untouched, so more bytes may follow.
// Not thread-safe; copyable (a copy continues independently). Throws std::bad_alloc or
// std::runtime_error only when libcrypto fails (out of memory, SHA-256 unavailable).
class Sha256 {
public:
  Sha256();
  ~Sha256();
  // No move operations: a moved-from hasher would have no state, so a move copies.
  Sha256(const Sha256& other);
  Sha256& operator=(const Sha256& other);

  void update(std::string_view data);
  std::array<std::uint8_t, 32> digest() const;
  // 64 lowercase hex digits.
  std::string hex_digest() const;

private:
  struct Context; // libcrypto's EVP_MD_CTX
  std::unique_ptr<Context> m_context;
};

// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

} // namespace softpack
