#include "util/yaml.hpp"

#include "util/text.hpp"
#include "util/units.hpp"

#include <algorithm>
#include <charconv>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace softpack {

const YamlNode* YamlNode::find(std::string_view key) const {
  for (const auto& e : entries) {
    if (e.key == key) {
      return &e.value;
    }
  }
  return nullptr;
}

std::string_view YamlNode::kind_name() const {
  switch (kind) {
  case Kind::null:
    return "null";
  case Kind::scalar:
    return "scalar";
  case Kind::sequence:
    return "sequence";
  case Kind::map:
    return "map";
  }
  return "node";
}

std::string YamlNode::where(std::string_view source) const {
  if (line <= 0) {
    return std::string(source);
  }
  return std::string(source) + ":" + std::to_string(line);
}

namespace {

// yaml-cpp recurses on nested flow collections without a bound, so refuse absurd nesting before
// handing the text over. Block nesting needs indentation and so cannot get deep cheaply.
bool flow_nesting_too_deep(std::string_view text, int max_depth, int& line_out) {
  int depth = 0;
  int line = 1;
  char quote = 0;
  bool comment = false;
  for (char c : text) {
    if (c == '\n') {
      ++line;
      comment = false;
      if (quote == 0) {
        continue;
      }
    }
    if (comment) {
      continue;
    }
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      }
      continue;
    }
    switch (c) {
    case '#':
      comment = true;
      break;
    case '"':
    case '\'':
      quote = c;
      break;
    case '[':
    case '{':
      if (++depth > max_depth) {
        line_out = line;
        return true;
      }
      break;
    case ']':
    case '}':
      if (depth > 0) {
        --depth;
      }
      break;
    default:
      break;
    }
  }
  return false;
}

int line_of(std::string_view text, std::size_t offset) {
  int line = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    line += text[i] == '\n' ? 1 : 0;
  }
  return line;
}

// The 1-based line of the last character of `text` that is not white space (1 for none): where
// an error "at the end of the input" is. yaml-cpp marks the end at the line after the last
// newline, which is no line of the file.
int last_text_line(std::string_view text) {
  const auto last = text.find_last_not_of(" \t\r\n");
  return last == std::string_view::npos ? 1 : line_of(text, last);
}

// The 1-based line of a yaml-cpp mark in `text`, never past the last line with text.
int line_of_mark(std::string_view text, const YAML::Mark& mark) {
  return std::min(mark.line + 1, last_text_line(text));
}

// Records where documents start, to refuse a second document and to notice yaml-cpp 0.7 stuck
// on a token it cannot place (a ',' outside a flow collection, found by fuzzing): it then yields
// an endless series of empty documents at that token, so that YAML::LoadAll never returns and
// YAML::Load silently reads an empty document. Stops the parse at the first repeated position,
// or once there are plainly too many documents.
class DocumentStarts : public YAML::EventHandler {
public:
  struct Enough {};
  std::vector<YAML::Mark> starts;
  bool stuck = false;

  void OnDocumentStart(const YAML::Mark& mark) override {
    stuck = !starts.empty() && starts.back().pos == mark.pos;
    starts.push_back(mark);
    if (stuck || starts.size() > 16) {
      throw Enough{};
    }
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Refuses a second document ("---"), which would otherwise be silently ignored, and input that
// yaml-cpp cannot get past. Throws what yaml-cpp throws.
Expected<void> check_one_document(const std::string& text, std::string_view source_name) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts documents;
  try {
    while (parser.HandleNextDocument(documents)) {
    }
  } catch (const DocumentStarts::Enough&) {
  }
  const auto& starts = documents.starts;
  const auto where = [&](const YAML::Mark& mark) {
    return std::string(source_name) + ":" + std::to_string(line_of_mark(text, mark));
  };
  if (documents.stuck) {
    const auto pos = static_cast<std::size_t>(std::max(starts.back().pos, 0));
    const std::string token = pos < text.size() ? "'" + printable(text.substr(pos, 1)) + "'"
                                                : std::string("end of input");
    return make_error(ErrorKind::invalid_input, "not valid YAML: unexpected " + token,
                      where(starts.back()));
  }
  if (starts.size() > 1) {
    return make_error(ErrorKind::invalid_input, "expected one YAML document, found more",
                      where(starts[1]));
  }
  return {};
}

struct Converter {
  std::string_view source;
  const YamlLimits& limits;
  std::size_t max_text_bytes = 0;
  int last_line = 1; // last_text_line(): no node is after it
  std::size_t nodes = 0;
  std::size_t text_bytes = 0;

  // Counts the scalar text the tree holds; aliases make copies, so this can exceed the input.
  Expected<void> add_text(std::size_t bytes, const std::string& where) {
    text_bytes += bytes;
    if (text_bytes > max_text_bytes) {
      return make_error(ErrorKind::invalid_input,
                        "document expands to more than " + std::to_string(max_text_bytes) +
                            " bytes of text (alias expansion?)",
                        where);
    }
    return {};
  }

  Expected<YamlNode> convert(const YAML::Node& in, int depth) {
    YamlNode out;
    const YAML::Mark mark = in.Mark();
    out.line = mark.line >= 0 ? std::min(mark.line + 1, last_line) : 0;
    out.column = mark.column >= 0 ? mark.column + 1 : 0;
    if (++nodes > limits.max_nodes) {
      return make_error(ErrorKind::invalid_input,
                        "document expands to more than " + std::to_string(limits.max_nodes) +
                            " nodes (alias expansion?)",
                        out.where(source));
    }
    if (depth > limits.max_depth) {
      return make_error(ErrorKind::invalid_input,
                        "nesting deeper than " + std::to_string(limits.max_depth) + " levels",
                        out.where(source));
    }
    switch (in.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out.kind = YamlNode::Kind::null;
      return out;
    case YAML::NodeType::Scalar:
      out.kind = YamlNode::Kind::scalar;
      if (auto ok = add_text(in.Scalar().size(), out.where(source)); !ok) {
        return ok.error();
      }
      out.scalar = in.Scalar();
      out.quoted = in.Tag() == "!";
      return out;
    case YAML::NodeType::Sequence:
      out.kind = YamlNode::Kind::sequence;
      for (const auto& item : in) {
        auto child = convert(item, depth + 1);
        if (!child) {
          return child.error();
        }
        out.items.push_back(std::move(*child));
      }
      return out;
    case YAML::NodeType::Map: {
      out.kind = YamlNode::Kind::map;
      // Indexes into out.entries by key: a linear scan per key made a 60,000-key map take minutes.
      std::unordered_map<std::string, std::size_t> seen;
      for (const auto& kv : in) {
        const YAML::Node& key = kv.first;
        const int key_line =
            key.Mark().line >= 0 ? std::min(key.Mark().line + 1, last_line) : out.line;
        const std::string where =
            std::string(source) + (key_line > 0 ? ":" + std::to_string(key_line) : "");
        if (!key.IsScalar()) {
          return make_error(ErrorKind::invalid_input, "map keys must be plain strings", where);
        }
        if (auto it = seen.find(key.Scalar()); it != seen.end()) {
          return make_error(ErrorKind::invalid_input,
                            "duplicate key '" + printable(key.Scalar()) + "' (first on line " +
                                std::to_string(out.entries[it->second].line) + ")",
                            where);
        }
        if (auto ok = add_text(key.Scalar().size(), where); !ok) {
          return ok.error();
        }
        seen.emplace(key.Scalar(), out.entries.size());
        auto child = convert(kv.second, depth + 1);
        if (!child) {
          return child.error();
        }
        // yaml-cpp marks an empty value at the token after it, often the next line.
        if (child->line == 0 || child->is_null()) {
          child->line = key_line;
          child->column = 0;
        }
        out.entries.push_back(YamlEntry{key.Scalar(), key_line, std::move(*child)});
      }
      return out;
    }
    }
    return out;
  }
};

} // namespace

Expected<YamlNode> parse_yaml(std::string_view text, std::string_view source_name,
                              const YamlLimits& limits) {
  // YAML must be Unicode, but yaml-cpp passes stray bytes through (and stops reading at a NUL);
  // refuse them up front so that no later message has to print them.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
    return make_error(ErrorKind::invalid_input, "contains a NUL byte",
                      std::string(source_name) + ":" + std::to_string(line_of(text, nul)));
  }
  if (const auto bad = invalid_utf8_offset(text); bad != std::string_view::npos) {
    return make_error(ErrorKind::invalid_input,
                      "not valid UTF-8 (at byte offset " + std::to_string(bad) + ")",
                      std::string(source_name) + ":" + std::to_string(line_of(text, bad)));
  }
  int deep_line = 0;
  if (flow_nesting_too_deep(text, limits.max_depth, deep_line)) {
    return make_error(ErrorKind::invalid_input,
                      "nesting deeper than " + std::to_string(limits.max_depth) + " levels",
                      std::string(source_name) + ":" + std::to_string(deep_line));
  }
  YAML::Node root;
  try {
    const std::string input(text);
    if (auto one = check_one_document(input, source_name); !one) {
      return one.error();
    }
    root = YAML::Load(input);
  } catch (const YAML::DeepRecursion& e) {
    // Its own message is a meaningless "bad file".
    return make_error(ErrorKind::invalid_input, "nesting too deep",
                      std::string(source_name) + ":" + std::to_string(line_of_mark(text, e.mark)));
  } catch (const YAML::Exception& e) {
    // Messages may quote raw input bytes ("unknown escape character: <byte>"), hence printable().
    std::string where(source_name);
    if (e.mark.line >= 0) {
      where += ":" + std::to_string(line_of_mark(text, e.mark));
    }
    return make_error(ErrorKind::invalid_input, "not valid YAML: " + printable(e.msg, 200), where);
  }
  try {
    Converter conv{source_name, limits, std::max(limits.max_text_bytes, 2 * text.size()),
                   last_text_line(text)};
    return conv.convert(root, 0);
  } catch (const YAML::Exception& e) {
    return make_error(ErrorKind::invalid_input, "not valid YAML: " + printable(e.msg, 200),
                      std::string(source_name));
  }
}

MapReader::MapReader(const YamlNode& node, std::string_view source, std::string prefix,
                     std::vector<Error>* collect)
    : m_node(node), m_source(source), m_prefix(std::move(prefix)), m_collect(collect) {}

Expected<void> MapReader::report(Expected<void> result) const {
  if (!result && m_collect) {
    m_collect->push_back(result.error());
    return {};
  }
  return result;
}

Expected<void> MapReader::check_is_map() const {
  if (!m_node.is_map() && !m_node.is_null()) {
    return report(error_at(m_node, m_prefix.empty() ? "(top level)" : m_prefix,
                           "expected a map, found a " + std::string(m_node.kind_name())));
  }
  return {};
}

std::string MapReader::key_path(std::string_view key) const {
  return m_prefix.empty() ? std::string(key) : m_prefix + "." + std::string(key);
}

const YamlNode* MapReader::get(std::string_view key) {
  m_seen.insert(std::string(key));
  const YamlNode* n = m_node.find(key);
  return (n && !n->is_null()) ? n : nullptr;
}

MapReader MapReader::section(std::string_view key) {
  static const YamlNode k_absent;
  const YamlNode* n = get(key);
  return MapReader(n ? *n : k_absent, m_source, key_path(key), m_collect);
}

Error MapReader::error_at(const YamlNode& node, std::string_view key_path,
                          const std::string& message) const {
  return make_error(ErrorKind::config, std::string(key_path) + ": " + message,
                    node.where(m_source));
}

Error MapReader::error(std::string_view key, const std::string& message) const {
  const YamlNode* n = m_node.find(key);
  return error_at(n ? *n : m_node, key_path(key), message);
}

Expected<void> MapReader::string(std::string_view key, std::string& out) {
  if (const YamlNode* n = get(key)) {
    if (!n->is_scalar()) {
      return report(error_at(*n, key_path(key), "expected a string"));
    }
    out = n->scalar;
  }
  return {};
}

Expected<void> MapReader::string_list(std::string_view key, std::vector<std::string>& out,
                                      bool allow_empty) {
  if (const YamlNode* n = get(key)) {
    if (n->is_scalar()) {
      out = {n->scalar};
      return {};
    }
    if (!n->is_sequence()) {
      return report(error_at(*n, key_path(key), "expected a list of strings"));
    }
    std::vector<std::string> values;
    for (const auto& item : n->items) {
      if (!item.is_scalar()) {
        return report(error_at(item, key_path(key), "expected a list of strings"));
      }
      values.push_back(item.scalar);
    }
    if (values.empty() && !allow_empty) {
      return report(error_at(*n, key_path(key), "must not be empty"));
    }
    out = std::move(values);
  }
  return {};
}

Expected<void> MapReader::string_map(std::string_view key,
                                     std::map<std::string, std::string>& out) {
  if (const YamlNode* n = get(key)) {
    if (!n->is_map()) {
      return report(error_at(*n, key_path(key), "expected a map of strings"));
    }
    for (const auto& e : n->entries) {
      if (!e.value.is_scalar()) {
        return report(error_at(e.value, key_path(key) + "." + e.key, "expected a string"));
      }
      out[e.key] = e.value.scalar;
    }
  }
  return {};
}

Expected<void> MapReader::boolean(std::string_view key, bool& out) {
  if (const YamlNode* n = get(key)) {
    if (n->is_scalar() && (n->scalar == "true" || n->scalar == "false")) {
      out = n->scalar == "true";
    } else {
      return report(error_at(*n, key_path(key),
                             "expected true or false, found '" + printable(n->scalar) + "'"));
    }
  }
  return {};
}

Expected<void> MapReader::integer(std::string_view key, int& out, int min, int max) {
  if (const YamlNode* n = get(key)) {
    int value = 0;
    const auto& s = n->scalar;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (!n->is_scalar() || ec != std::errc() || p != s.data() + s.size() || value < min ||
        value > max) {
      return report(error_at(*n, key_path(key),
                             "expected a whole number from " + std::to_string(min) + " to " +
                                 std::to_string(max) + ", found '" + printable(s) + "'"));
    }
    out = value;
  }
  return {};
}

Expected<void> MapReader::duration(std::string_view key, std::chrono::milliseconds& out) {
  if (const YamlNode* n = get(key)) {
    auto d = n->is_scalar()
                 ? parse_duration(n->scalar)
                 : Expected<std::chrono::milliseconds>(make_error(ErrorKind::config, ""));
    if (!d) {
      return report(error_at(*n, key_path(key),
                             "expected a duration such as 30s, 5m, 2h or 1:00:00, found '" +
                                 printable(n->scalar) + "'"));
    }
    out = *d;
  }
  return {};
}

Expected<void> MapReader::duration(std::string_view key, std::chrono::seconds& out) {
  std::chrono::milliseconds ms(out);
  if (auto r = duration(key, ms); !r) {
    return r;
  }
  out = std::chrono::duration_cast<std::chrono::seconds>(ms);
  return {};
}

Expected<void> MapReader::memory_mb(std::string_view key, std::uint64_t& out) {
  if (const YamlNode* n = get(key)) {
    auto mb = n->is_scalar() ? parse_memory_mb(n->scalar)
                             : Expected<std::uint64_t>(make_error(ErrorKind::config, ""));
    if (!mb) {
      return report(error_at(*n, key_path(key),
                             "expected a memory size such as 512M or 4G, found '" +
                                 printable(n->scalar) + "'"));
    }
    out = *mb;
  }
  return {};
}

Expected<void> MapReader::finish() const {
  for (const auto& e : m_node.entries) {
    if (!m_seen.count(e.key)) {
      std::string known;
      for (const auto& k : m_seen) {
        known += (known.empty() ? "" : ", ") + k;
      }
      auto r = report(make_error(
          ErrorKind::config, "unknown key '" + key_path(e.key) + "' (known here: " + known + ")",
          std::string(m_source) + ":" + std::to_string(e.line)));
      if (!r) {
        return r;
      }
    }
  }
  return {};
}

} // namespace softpack
