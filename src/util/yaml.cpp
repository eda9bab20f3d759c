#include "util/yaml.hpp"

#include "util/text.hpp"

#include <algorithm>
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
    return std::string(source_name) + ":" + std::to_string(mark.line + 1);
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
    out.line = mark.line >= 0 ? mark.line + 1 : 0;
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
        const int key_line = key.Mark().line >= 0 ? key.Mark().line + 1 : out.line;
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
                      std::string(source_name) + ":" + std::to_string(e.mark.line + 1));
  } catch (const YAML::Exception& e) {
    // Messages may quote raw input bytes ("unknown escape character: <byte>"), hence printable().
    std::string where(source_name);
    if (e.mark.line >= 0) {
      where += ":" + std::to_string(e.mark.line + 1);
    }
    return make_error(ErrorKind::invalid_input, "not valid YAML: " + printable(e.msg, 200), where);
  }
  try {
    Converter conv{source_name, limits, std::max(limits.max_text_bytes, 2 * text.size())};
    return conv.convert(root, 0);
  } catch (const YAML::Exception& e) {
    return make_error(ErrorKind::invalid_input, "not valid YAML: " + printable(e.msg, 200),
                      std::string(source_name));
  }
}

} // namespace softpack
