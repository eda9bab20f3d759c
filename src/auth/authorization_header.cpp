#include "auth/authorization_header.hpp"

#include "util/text.hpp"

namespace softpack::auth {
namespace {

// RFC 7230 OWS and the separator between scheme and credential.
bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

bool is_visible(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x21 && u <= 0x7e;
}

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_blank(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

Error refuse(std::string reason) {
  return make_error(ErrorKind::invalid_input, std::move(reason));
}

constexpr std::string_view k_munge_prefix = "MUNGE:";
constexpr std::string_view k_munge_suffix = ":";

} // namespace

Expected<AuthHeader> parse_authorization(std::string_view value) {
  // Beast hands the field value over with its OWS already removed; a value from elsewhere may
  // still carry it, and the grammar ignores it, so both ends are trimmed here.
  value = trim_blanks(value);
  if (value.empty()) {
    return refuse("empty Authorization header (expected Bearer <token> or MUNGE <credential>)");
  }
  std::size_t end_of_scheme = 0;
  while (end_of_scheme < value.size() && !is_blank(value[end_of_scheme])) {
    ++end_of_scheme;
  }
  const std::string_view scheme = value.substr(0, end_of_scheme);
  const std::string_view credential = trim_blanks(value.substr(end_of_scheme));

  AuthHeader header;
  const std::string lower = to_lower(scheme);
  if (lower == "bearer") {
    header.scheme = AuthHeader::Scheme::bearer;
  } else if (lower == "munge") {
    header.scheme = AuthHeader::Scheme::munge;
  } else if (credential.empty()) {
    // One word and nothing after it may well be a bare credential: never echo it.
    return refuse("Authorization header without a scheme (expected Bearer <token> or MUNGE "
                  "<credential>)");
  } else {
    return refuse("unknown authorization scheme '" + printable(scheme, 20) +
                  "' (expected Bearer or MUNGE)");
  }
  const std::string scheme_name = header.scheme == AuthHeader::Scheme::bearer ? "Bearer" : "MUNGE";

  if (credential.empty()) {
    return refuse(scheme_name + " without a credential");
  }
  if (credential.size() > k_max_credential) {
    return refuse(scheme_name + " credential longer than " + std::to_string(k_max_credential) +
                  " bytes");
  }
  for (char c : credential) {
    if (is_blank(c)) {
      return refuse(scheme_name + " credential with whitespace inside it");
    }
    if (!is_visible(c)) {
      return refuse(scheme_name + " credential with a byte that is not printable ASCII");
    }
  }
  if (header.scheme == AuthHeader::Scheme::munge &&
      (credential.size() <= k_munge_prefix.size() + k_munge_suffix.size() ||
       !credential.starts_with(k_munge_prefix) || !credential.ends_with(k_munge_suffix))) {
    return refuse("MUNGE credential without its armor (MUNGE:...:)");
  }
  header.credential = std::string(credential);
  return header;
}

} // namespace softpack::auth
