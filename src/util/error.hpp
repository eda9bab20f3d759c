#pragma once

// Anticipated failures travel as values: a function that can fail for reasons the caller must
// handle (bad input, a command that exited non-zero, a missing file) returns Expected<T>.
// Exceptions are reserved for bugs and aborts, and are caught once per entry point.

#include <cassert>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace softpack {

enum class ErrorKind {
  invalid_input, // user-supplied spec, request or file is wrong: exit 2 / HTTP 400
  config,        // the site configuration is wrong
  io,            // a file or directory could not be read or written
  command,       // a subprocess failed (non-zero exit, timeout, could not start)
  transient,     // worth retrying: a scheduler that is temporarily unreachable, a busy remote
  scheduler,     // a scheduler answered something we do not understand
  not_found,
  conflict, // the request conflicts with work in progress (another spec of a building environment)
  internal,
};

std::string_view to_string(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::internal;
  std::string message;
  // Where: "file.yml:12", "sbatch", "packages[2].name". Empty when not applicable.
  std::string context;

  // "context: message", or just the message.
  std::string describe() const;
  // A copy whose context is "outer: inner" (or outer alone).
  Error with_context(std::string_view outer) const;
};

inline Error make_error(ErrorKind kind, std::string message, std::string context = {}) {
  return Error{kind, std::move(message), std::move(context)};
}

// Thrown by Expected::value() on an error: a programming mistake, caught at the entry point.
class BadExpectedAccess : public std::runtime_error {
public:
  explicit BadExpectedAccess(const Error& e) : std::runtime_error(e.describe()) {}
};

// A small stand-in for C++23 std::expected<T, Error>.
template <typename T> class [[nodiscard]] Expected {
public:
  Expected(T value) : m_v(std::in_place_index<0>, std::move(value)) {}
  Expected(Error error) : m_v(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const { return m_v.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    check();
    return std::get<0>(m_v);
  }
  const T& value() const& {
    check();
    return std::get<0>(m_v);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(m_v));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    assert(!has_value());
    return std::get<1>(m_v);
  }

private:
  void check() const {
    if (!has_value()) {
      throw BadExpectedAccess(std::get<1>(m_v));
    }
  }
  std::variant<T, Error> m_v;
};

template <> class [[nodiscard]] Expected<void> {
public:
  Expected() = default;
  Expected(Error error) : m_error(std::move(error)), m_ok(false) {}

  bool has_value() const { return m_ok; }
  explicit operator bool() const { return m_ok; }
  void value() const {
    if (!m_ok) {
      throw BadExpectedAccess(m_error);
    }
  }
  const Error& error() const {
    assert(!m_ok);
    return m_error;
  }

private:
  Error m_error;
  bool m_ok = true;
};

} // namespace softpack

// Returns the error of an Expected expression from the enclosing function (which returns an
// Expected of any type); goes on when it holds a value. For chains of checks such as reading
// configuration keys, where each step can fail and there is nothing to do on failure but say so.
#define SOFTPACK_TRY(expr)                                                                         \
  do {                                                                                             \
    if (auto softpack_try_result = (expr); !softpack_try_result) {                                 \
      return softpack_try_result.error();                                                          \
    }                                                                                              \
  } while (0)
