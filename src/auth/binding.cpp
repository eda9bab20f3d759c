#include "auth/binding.hpp"

#include "util/sha256.hpp"

namespace softpack::auth {

std::string request_binding(std::string_view method, std::string_view target,
                            std::string_view body) {
  std::string out = "softpack-builder-v1\n";
  out += method;
  out += '\n';
  out += target;
  out += '\n';
  out += sha256_hex(body);
  out += '\n';
  return out;
}

} // namespace softpack::auth
