#include "auth/identity.hpp"

#include "util/text.hpp"

namespace softpack::auth {

std::string_view kind_name(Requester::Kind kind) {
  switch (kind) {
  case Requester::Kind::none:
    return "none";
  case Requester::Kind::user:
    return "user";
  case Requester::Kind::token:
    return "token";
  case Requester::Kind::core:
    return "core";
  case Requester::Kind::webhook:
    return "webhook";
  }
  return "none";
}

std::optional<Requester::Kind> parse_kind(std::string_view name) {
  for (auto kind : {Requester::Kind::none, Requester::Kind::user, Requester::Kind::token,
                    Requester::Kind::core, Requester::Kind::webhook}) {
    if (kind_name(kind) == name)
      return kind;
  }
  return std::nullopt;
}

std::string Requester::display() const {
  switch (kind) {
  case Kind::none:
    return "";
  case Kind::user:
    return name;
  case Kind::token:
    return "token " + name;
  case Kind::core:
    return name.empty() ? "softpack-core" : "softpack-core " + name;
  case Kind::webhook:
    return name.empty() ? "webhook" : "webhook " + name;
  }
  return "";
}

std::string Requester::describe() const {
  std::string out = printable(display(), 100);
  if (!out.empty() && uid) {
    out += " (uid " + std::to_string(*uid) + ")";
  }
  return out;
}

} // namespace softpack::auth
