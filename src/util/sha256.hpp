#pragma once

// SHA-256 (FIPS 180-4), for content hashes of specs and artifacts. Pure: no I/O.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace softpack {

// Streaming hasher: feed bytes with update() in any chunking; digest() and hex_digest() report the
// hash of everything fed so far and leave the state untouched, so more bytes may follow.
// Not thread-safe; copyable (a copy continues independently).
class Sha256 {
public:
  Sha256();

  void update(std::string_view data);
  std::array<std::uint8_t, 32> digest() const;
  // 64 lowercase hex digits.
  std::string hex_digest() const;

private:
  void compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> m_state;
  std::array<std::uint8_t, 64> m_buffer{};
  std::size_t m_buffered = 0; // bytes waiting in m_buffer
  std::uint64_t m_total = 0;  // bytes fed so far
};

// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

} // namespace softpack
