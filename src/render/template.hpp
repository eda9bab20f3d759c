#pragma once

// Mustache templates from templates/, rendered from a plain data tree. The escaping of `{{x}}`
// is chosen for the language of the output, so a template author who writes {{x}} gets a value
// that is safe where it stands: a single quoted word in shell, a double-quoted scalar in YAML,
// a substitution-free word in Tcl. `{{{x}}}` inserts text verbatim and is only for values the
// code has already made safe (pre-quoted command lines, rendered bodies).

#include "util/error.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace softpack::render {

struct Value;
using List = std::vector<Value>;
using Map = std::map<std::string, Value>;

struct Value {
  std::variant<std::string, bool, List, Map> v;

  Value() : v(std::string()) {}
  Value(std::string s) : v(std::move(s)) {}
  Value(const char* s) : v(std::string(s)) {}
  Value(bool b) : v(b) {}
  Value(List l) : v(std::move(l)) {}
  Value(Map m) : v(std::move(m)) {}
};

enum class Escape {
  none,  // Markdown and other plain text
  shell, // POSIX sh: one single-quoted word
  yaml,  // YAML double-quoted scalar
  tcl,   // Tcl double-quoted word with nothing substituted
};

// The escape that suits a template by its file name: x.sh.mustache -> shell, x.yaml/.yml ->
// yaml, x.tcl -> tcl, anything else -> none.
Escape escape_for(std::string_view template_name);

// Renders `text` with `data` (a Map at the top). Errors name `template_name`: a syntax error in
// the template, or a variable the template uses that `data` does not define (so a typo never
// silently renders as an empty string).
Expected<std::string> render(std::string_view text, const Value& data, Escape escape,
                             std::string_view template_name);

// Loads templates from a directory and renders them by name ("job.sh.mustache").
class TemplateSet {
public:
  explicit TemplateSet(std::filesystem::path dir) : m_dir(std::move(dir)) {}
  Expected<std::string> render(std::string_view name, const Value& data) const;
  const std::filesystem::path& dir() const { return m_dir; }

private:
  std::filesystem::path m_dir;
};

} // namespace softpack::render
