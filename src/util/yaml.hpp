#pragma once

// A plain, self-contained YAML document tree with source positions, so that the rest of the
// code base never sees yaml-cpp types. This header and yaml.cpp are the only places that know
// yaml-cpp exists.

#include "util/error.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
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

// Reads one YAML map of settings (a configuration file or one section of it): hands out values
// by key, converted and checked, and rejects the keys nobody asked for (finish()). Every error is
// ErrorKind::config, names the key's full path ("scheduler.slurm.retries") and the line
// ("config.yaml:12"). Reading a key that is absent, or null, leaves the output as it was (the
// default). The node, an absent section included, must outlive the reader.
//
// A reader made with an error list collects: its errors, and those of the readers made from it
// (section()), are appended to the list and the call succeeds, leaving the output as it was, so
// that one pass over a file finds every mistake rather than the first. The list must outlive the
// reader.
class MapReader {
public:
  // `prefix`: the key path of this map ("scheduler.slurm"; "" for the top level).
  MapReader(const YamlNode& node, std::string_view source, std::string prefix,
            std::vector<Error>* collect = nullptr);

  // An error when the node is neither a map nor null (an absent or empty section).
  Expected<void> check_is_map() const;
  // "prefix.key".
  std::string key_path(std::string_view key) const;
  // The value under `key` (nullptr when absent or null), marking the key as known.
  const YamlNode* get(std::string_view key);
  // A reader of the map under `key`, marked known; an absent key reads as an empty map. The
  // reader checks that the value is a map when asked (check_is_map).
  MapReader section(std::string_view key);

  Expected<void> string(std::string_view key, std::string& out);
  // A list of strings; a single word is taken as a one-element list.
  Expected<void> string_list(std::string_view key, std::vector<std::string>& out,
                             bool allow_empty = true);
  Expected<void> string_map(std::string_view key, std::map<std::string, std::string>& out);
  Expected<void> boolean(std::string_view key, bool& out);
  Expected<void> integer(std::string_view key, int& out, int min, int max);
  // A duration (util/units.hpp: 30s, 5m, 2h, 1:00:00), truncated to the output's unit.
  Expected<void> duration(std::string_view key, std::chrono::seconds& out);
  Expected<void> duration(std::string_view key, std::chrono::milliseconds& out);
  // A memory size (512M, 4G; plain numbers are megabytes).
  Expected<void> memory_mb(std::string_view key, std::uint64_t& out);

  // An error about `key` of this map, at the key's value's line (the map's when absent).
  Error error(std::string_view key, const std::string& message) const;
  // An error about `node`, named `key_path` in full.
  Error error_at(const YamlNode& node, std::string_view key_path, const std::string& message) const;

  // `result` as it is, except that a collecting reader collects its error and returns success:
  // for the checks the reader's user makes, SOFTPACK_TRY(r.report(r.error(key, "..."))).
  Expected<void> report(Expected<void> result) const;
  // The list this reader collects into; nullptr when it does not collect.
  std::vector<Error>* collector() const { return m_collect; }

  // Unknown keys (never asked for) are an error naming the key and the known ones (the first
  // unknown key; every one when collecting).
  Expected<void> finish() const;

  const YamlNode& node() const { return m_node; }
  std::string_view source() const { return m_source; }
  const std::string& prefix() const { return m_prefix; }

private:
  const YamlNode& m_node;
  std::string_view m_source;
  std::string m_prefix;
  std::vector<Error>* m_collect = nullptr;
  std::set<std::string> m_seen;
};

} // namespace softpack
