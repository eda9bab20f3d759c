#include "render/template.hpp"

#include "util/fs.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <set>

#include <kainjow/mustache.hpp>

namespace softpack::render {

namespace km = kainjow::mustache;

Escape escape_for(std::string_view name) {
  // The output's extension: the one before ".mustache" ("job.sh.mustache" -> ".sh").
  constexpr std::string_view k_suffix = ".mustache";
  if (name.size() >= k_suffix.size() && name.substr(name.size() - k_suffix.size()) == k_suffix) {
    name.remove_suffix(k_suffix.size());
  }
  const auto dot = name.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? "" : name.substr(dot);
  if (ext == ".sh" || ext == ".def") {
    // A definition file's sections are shell scripts; its headers take values that need no
    // quoting (checked where they are configured).
    return Escape::shell;
  }
  if (ext == ".yaml" || ext == ".yml") {
    return Escape::yaml;
  }
  if (ext == ".tcl") {
    return Escape::tcl;
  }
  return Escape::none;
}

namespace {

km::data to_mustache(const Value& value) {
  return std::visit(
      [](const auto& v) -> km::data {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return km::data(v);
        } else if constexpr (std::is_same_v<T, bool>) {
          return km::data(v);
        } else if constexpr (std::is_same_v<T, List>) {
          km::data list(km::data::type::list);
          for (const auto& item : v) {
            list.push_back(to_mustache(item));
          }
          return list;
        } else {
          km::data obj(km::data::type::object);
          for (const auto& [k, item] : v) {
            obj.set(k, to_mustache(item));
          }
          return obj;
        }
      },
      value.v);
}

void collect_names(const Value& value, std::set<std::string>& names) {
  if (const auto* m = std::get_if<Map>(&value.v)) {
    for (const auto& [k, item] : *m) {
      names.insert(k);
      collect_names(item, names);
    }
  } else if (const auto* l = std::get_if<List>(&value.v)) {
    for (const auto& item : *l) {
      collect_names(item, names);
    }
  }
}

// Every variable outside sections, and every section name, must be defined somewhere in the
// data: mustache renders unknown names as empty text, which would hide typos in templates.
// Names inside a section are not checked, since an empty list legitimately has no items that
// define them.
Expected<void> check_names(std::string_view text, const Value& data, std::string_view name) {
  std::set<std::string> known;
  collect_names(data, known);
  std::size_t pos = 0;
  int line = 1;
  std::size_t line_pos = 0;
  int depth = 0;
  while ((pos = text.find("{{", pos)) != std::string_view::npos) {
    for (; line_pos < pos; ++line_pos) {
      line += text[line_pos] == '\n' ? 1 : 0;
    }
    const auto end = text.find("}}", pos + 2);
    if (end == std::string_view::npos) {
      break;
    }
    std::string_view tag = trim(text.substr(pos + 2, end - pos - 2));
    pos = end + 2;
    if (tag.empty()) {
      continue;
    }
    const char sigil = tag.front();
    if (sigil == '!' || sigil == '>' || sigil == '=') {
      continue;
    }
    if (sigil == '{' || sigil == '&' || sigil == '#' || sigil == '^' || sigil == '/') {
      tag = trim(tag.substr(1));
    }
    if (!tag.empty() && tag.back() == '}') {
      tag = trim(tag.substr(0, tag.size() - 1));
    }
    if (sigil == '/') {
      depth = std::max(0, depth - 1);
      continue;
    }
    const bool opens = sigil == '#' || sigil == '^';
    if (tag == "." || (depth > 0 && !opens)) {
      depth += opens ? 1 : 0;
      continue;
    }
    depth += opens ? 1 : 0;
    for (const auto& part : split(tag, '.')) {
      if (!known.count(part)) {
        return make_error(ErrorKind::internal,
                          "template uses '" + std::string(tag) + "', which is not defined",
                          std::string(name) + ":" + std::to_string(line));
      }
    }
  }
  return {};
}

} // namespace

Expected<std::string> render(std::string_view text, const Value& data, Escape escape,
                             std::string_view template_name) {
  if (auto r = check_names(text, data, template_name); !r) {
    return r.error();
  }
  km::mustache tmpl{std::string(text)};
  if (!tmpl.is_valid()) {
    return make_error(ErrorKind::internal, "template error: " + tmpl.error_message(),
                      std::string(template_name));
  }
  switch (escape) {
  case Escape::none:
    tmpl.set_custom_escape([](const std::string& s) { return s; });
    break;
  case Escape::shell:
    tmpl.set_custom_escape([](const std::string& s) { return sh_quote(s); });
    break;
  case Escape::yaml:
    tmpl.set_custom_escape([](const std::string& s) { return yaml_quote(s); });
    break;
  case Escape::tcl:
    tmpl.set_custom_escape([](const std::string& s) { return tcl_quote(s); });
    break;
  }
  std::string out = tmpl.render(to_mustache(data));
  if (!tmpl.is_valid()) {
    return make_error(ErrorKind::internal, "template error: " + tmpl.error_message(),
                      std::string(template_name));
  }
  return out;
}

Expected<std::string> TemplateSet::render(std::string_view name, const Value& data) const {
  auto text = read_file(m_dir / std::string(name), 1 << 20);
  if (!text) {
    return text.error();
  }
  return softpack::render::render(*text, data, escape_for(name), name);
}

} // namespace softpack::render
