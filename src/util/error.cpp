#include "util/error.hpp"

namespace softpack {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::invalid_input:
    return "invalid input";
  case ErrorKind::config:
    return "configuration error";
  case ErrorKind::io:
    return "I/O error";
  case ErrorKind::command:
    return "command failed";
  case ErrorKind::transient:
    return "temporary failure";
  case ErrorKind::scheduler:
    return "scheduler error";
  case ErrorKind::not_found:
    return "not found";
  case ErrorKind::conflict:
    return "conflict";
  case ErrorKind::internal:
    return "internal error";
  }
  return "error";
}

std::string Error::describe() const {
  if (context.empty()) {
    return message;
  }
  return context + ": " + message;
}

Error Error::with_context(std::string_view outer) const {
  Error e = *this;
  if (e.context.empty()) {
    e.context = std::string(outer);
  } else {
    e.context = std::string(outer) + ": " + e.context;
  }
  return e;
}

} // namespace softpack
