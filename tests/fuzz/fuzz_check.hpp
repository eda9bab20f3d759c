#pragma once

// Helpers shared by the fuzz targets: the input as text, and checks of the parsers' contracts
// that abort (so libFuzzer records a crash) when broken.

#include "util/error.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace softpack::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Aborts with `what` when `ok` is false.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz contract broken: %s\n", what);
    std::abort();
  }
}

inline bool is_printable_ascii(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

// A refusal must be of the expected kind and say something.
inline void require_refusal(const Error& e, ErrorKind kind) {
  require(e.kind == kind, "error of an unexpected kind");
  require(!e.message.empty(), "error without a message");
}

} // namespace softpack::fuzz
