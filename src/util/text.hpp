#pragma once

// Small pure string helpers: quoting for the languages we generate (POSIX shell, YAML, Tcl) and
// line handling. No I/O.

#include <string>
#include <string_view>
#include <vector>

namespace softpack {

// One POSIX shell word that expands to exactly `s`: 'it'\''s' style. Safe for any byte string.
std::string sh_quote(std::string_view s);
// Words quoted and joined with spaces: a command line for a script.
std::string sh_join(const std::vector<std::string>& words);
// A YAML double-quoted scalar that reads back as exactly `s`.
std::string yaml_quote(std::string_view s);
// A Tcl word in double quotes in which nothing is substituted: \ $ [ ] " { } are escaped, and
// control characters become escapes.
std::string tcl_quote(std::string_view s);

std::string_view trim(std::string_view s);
std::vector<std::string_view> split_lines(std::string_view s); // without the newlines
std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
bool starts_with(std::string_view s, std::string_view prefix);
// The last `max_lines` lines of `s` (all of it when shorter).
std::string tail_lines(std::string_view s, std::size_t max_lines);
// `s` with every byte that is not printable ASCII shown as \xNN, for error messages.
std::string printable(std::string_view s, std::size_t max_len = 80);
std::string to_lower(std::string_view s);
// Offset of the first byte that does not start a well-formed UTF-8 sequence (no overlong forms,
// no surrogates, nothing above U+10FFFF), or npos when all of `s` is UTF-8.
std::size_t invalid_utf8_offset(std::string_view s);

} // namespace softpack
