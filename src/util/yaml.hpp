#pragma once

// A plain, self-contained YAML document tree with source positions, so that the rest of the
// code base never sees yaml-cpp types. This header and yaml.cpp are the only places that know
// yaml-cpp exists.

#include "util/error.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace softpack {

struct YamlEntry;

struct YamlNode {
  enum class Kind { null, scalar, sequence, map };

  Kind kind = Kind::null;
  std::string scalar;             // for scalars (the text, without quotes)
  bool quoted = false;            // the scalar was written in quotes ('x' or "x")
  std::vector<YamlNode> items;    // for sequences
  std::vector<YamlEntry> entries; // for maps, in document order; keys are unique
  int line = 0;                   // 1-based; 0 when unknown
  int column = 0;                 // 1-based; 0 when unknown

  bool is_null() const { return kind == Kind::null; }
  bool is_scalar() const { return kind == Kind::scalar; }
  bool is_sequence() const { return kind == Kind::sequence; }
  bool is_map() const { return kind == Kind::map; }
  // The map entry for key, or nullptr (also when this is not a map).
  const YamlNode* find(std::string_view key) const;
  // "map", "sequence", "scalar" or "null", for error messages.
  std::string_view kind_name() const;
  // "file.yml:3" for error contexts.
  std::string where(std::string_view source) const;
};

struct YamlEntry {
  std::string key;
  int line = 0; // line of the key
  YamlNode value;
};

struct YamlLimits {
  std::size_t max_nodes = 100000; // defends against alias ("billion laughs") expansion
  int max_depth = 64;             // defends against stack exhaustion on deep nesting
  // Bytes of scalar text (keys and values) after alias expansion; defends against aliases of a
  // long scalar, which stay under max_nodes. Twice the document's own size is always allowed
  // (an escape such as "\L" turns 2 bytes into 3), so only documents with aliases can reach it.
  std::size_t max_text_bytes = 8 * 1024 * 1024;
};

// Parses one YAML document. An empty document yields a null node. Errors name the source and
// line; NUL bytes, invalid UTF-8 (YAML is Unicode), duplicate map keys, non-scalar keys and
// documents over the limits are errors.
Expected<YamlNode> parse_yaml(std::string_view text, std::string_view source_name,
                              const YamlLimits& limits = {});

} // namespace softpack
