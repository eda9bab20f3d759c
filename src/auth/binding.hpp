#pragma once

// What a MUNGE credential's payload binds it to: one request. Reproducible in shell:
//   hash=$(printf %s "$body" | sha256sum | cut -d' ' -f1)
//   printf 'softpack-builder-v1\n%s\n%s\n%s\n' POST /environments/build "$hash"

#include <string>
#include <string_view>

namespace softpack::auth {

// "softpack-builder-v1\n" METHOD "\n" TARGET "\n" sha256-hex(BODY) "\n"
std::string request_binding(std::string_view method, std::string_view target,
                            std::string_view body);

} // namespace softpack::auth
