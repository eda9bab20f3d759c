#include "spec/spec.hpp"

#include "util/json_names.hpp"
#include "util/sha256.hpp"
#include "util/text.hpp"
#include "util/yaml.hpp"

#include <algorithm>
#include <tuple>
#include <unordered_map>

#include <boost/json.hpp>

namespace softpack::spec {

namespace json = boost::json;

namespace {

// softpack.yml is two levels deep; the slack only buys better messages for misplaced maps.
constexpr int k_max_yaml_depth = 16;
// Far above any real softpack.yml (one node per package), far below what an alias bomb expands to.
constexpr std::size_t k_max_yaml_nodes = 10 * k_max_packages;
// The request is four levels deep.
constexpr std::size_t k_max_json_depth = 32;

Error invalid(std::string message, std::string context = {}) {
  return make_error(ErrorKind::invalid_input, std::move(message), std::move(context));
}

// "field: " or nothing, to start a message.
std::string prefix(std::string_view field) {
  return field.empty() ? std::string() : std::string(field) + ": ";
}

std::string quoted(std::string_view value) {
  return "'" + printable(value) + "'";
}

std::string index_field(std::string_view base, std::size_t i) {
  return std::string(base) + "[" + std::to_string(i) + "]";
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || is_digit(c);
}
bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}
bool is_word(char c) {
  return is_alnum(c) || c == '_' || c == '-';
}
bool is_dotted_word(char c) {
  return is_word(c) || c == '.';
}
// The first character of a name that becomes a path component, a module name and a command-line
// argument: not '-' (it would read as an option) nor '.' ("." and ".x" are the directory itself
// or hidden).
bool is_word_start(char c) {
  return is_alnum(c) || c == '_';
}
bool is_package_char(char c) {
  return is_lower_alnum(c) || c == '_' || c == '-';
}

// What one kind of identifier looks like; see check_token(). Every kind also refuses "..".
struct TokenRule {
  std::string_view what;    // "environment name", for messages
  std::string_view pattern; // the rule as a regex, for messages
  bool (*first_ok)(char);
  bool (*rest_ok)(char);
  std::size_t max_length;
};

constexpr TokenRule k_owner_rule{
    .what = "owner",
    .pattern = "[A-Za-z0-9_][A-Za-z0-9_-]*",
    .first_ok = is_word_start,
    .rest_ok = is_word,
    .max_length = k_max_name_length,
};
constexpr TokenRule k_name_rule{
    .what = "environment name",
    .pattern = "[A-Za-z0-9_][A-Za-z0-9_.-]*",
    .first_ok = is_word_start,
    .rest_ok = is_dotted_word,
    .max_length = k_max_name_length,
};
constexpr TokenRule k_version_rule{
    .what = "environment version",
    .pattern = "[A-Za-z0-9_][A-Za-z0-9_.-]*",
    .first_ok = is_word_start,
    .rest_ok = is_dotted_word,
    .max_length = k_max_version_length,
};
constexpr TokenRule k_package_name_rule{
    .what = "package name",
    .pattern = "[a-z0-9][a-z0-9_-]*",
    .first_ok = is_lower_alnum,
    .rest_ok = is_package_char,
    .max_length = k_max_name_length,
};
constexpr TokenRule k_package_version_rule{
    .what = "package version",
    .pattern = "[A-Za-z0-9_.-]+",
    .first_ok = is_dotted_word,
    .rest_ok = is_dotted_word,
    .max_length = k_max_version_length,
};

// The length is checked first so that the character scan is bounded and the message says the
// real problem; ".." is refused everywhere because these tokens become path components.
Expected<void> check_token(std::string_view value, std::string_view field, const TokenRule& rule) {
  if (value.empty()) {
    return invalid(prefix(field) + std::string(rule.what) + " must not be empty");
  }
  if (value.size() > rule.max_length) {
    return invalid(prefix(field) + std::string(rule.what) + " " + quoted(value) +
                   " is longer than " + std::to_string(rule.max_length) + " characters");
  }
  bool ok = rule.first_ok(value[0]);
  for (std::size_t i = 1; ok && i < value.size(); ++i) {
    ok = rule.rest_ok(value[i]);
  }
  if (!ok) {
    return invalid(prefix(field) + "invalid " + std::string(rule.what) + " " + quoted(value) +
                   ": must match " + std::string(rule.pattern));
  }
  if (value.find("..") != std::string_view::npos) {
    return invalid(prefix(field) + "invalid " + std::string(rule.what) + " " + quoted(value) +
                   ": must not contain '..'");
  }
  return {};
}

// The first pair (earlier, later) of packages with the same name, if any.
std::optional<std::pair<std::size_t, std::size_t>>
find_duplicate(const std::vector<Package>& packages) {
  std::unordered_map<std::string_view, std::size_t> seen;
  for (std::size_t i = 0; i < packages.size(); ++i) {
    auto [it, inserted] = seen.emplace(packages[i].name, i);
    if (!inserted) {
      return std::pair{it->second, i};
    }
  }
  return std::nullopt;
}

Expected<void> check_package_count(std::size_t count, std::string_view field) {
  if (count == 0) {
    return invalid(prefix(field) + "at least one package is required");
  }
  if (count > k_max_packages) {
    return invalid(prefix(field) + std::to_string(count) + " packages is more than the limit of " +
                   std::to_string(k_max_packages));
  }
  return {};
}

Expected<void> check_input_size(std::string_view text, std::string_view what,
                                std::string_view context) {
  if (text.size() > k_max_input_size) {
    return invalid(std::string(what) + " is " + std::to_string(text.size()) +
                       " bytes, more than the limit of " + std::to_string(k_max_input_size),
                   std::string(context));
  }
  return {};
}

} // namespace

std::string Package::to_spec() const {
  return version.empty() ? name : name + "@" + version;
}

std::string EnvironmentSpec::full_name() const {
  return path + "/" + name + "-" + version;
}

std::string EnvironmentSpec::path_kind() const {
  return path.substr(0, path.find('/'));
}

std::string EnvironmentSpec::owner() const {
  const auto slash = path.find('/');
  return slash == std::string::npos ? std::string() : path.substr(slash + 1);
}

Expected<void> validate_path(std::string_view value, std::string_view field) {
  const auto slash = value.find('/');
  const std::string_view kind = value.substr(0, slash);
  if (slash == std::string_view::npos || (kind != "users" && kind != "groups")) {
    return invalid(prefix(field) + "invalid environment path " + quoted(value) +
                   ": must be users/<owner> or groups/<group>");
  }
  if (auto ok = check_token(value.substr(slash + 1), field, k_owner_rule); !ok) {
    return invalid(ok.error().message + " (in environment path " + quoted(value) + ")");
  }
  return {};
}

Expected<void> validate_name(std::string_view value, std::string_view field) {
  return check_token(value, field, k_name_rule);
}

Expected<void> validate_version(std::string_view value, std::string_view field) {
  return check_token(value, field, k_version_rule);
}

Expected<void> validate_package_name(std::string_view value, std::string_view field) {
  return check_token(value, field, k_package_name_rule);
}

Expected<void> validate_package_version(std::string_view value, std::string_view field) {
  if (value.empty()) {
    return {};
  }
  return check_token(value, field, k_package_version_rule);
}

Expected<void> validate_description(std::string_view value, std::string_view field) {
  if (value.size() > k_max_description_size) {
    return invalid(prefix(field) + "description is " + std::to_string(value.size()) +
                   " bytes, more than the limit of " + std::to_string(k_max_description_size));
  }
  if (const auto nul = value.find('\0'); nul != std::string_view::npos) {
    return invalid(prefix(field) + "description contains a NUL byte at offset " +
                   std::to_string(nul));
  }
  if (const auto bad = invalid_utf8_offset(value); bad != std::string_view::npos) {
    return invalid(prefix(field) + "description is not valid UTF-8 (at byte offset " +
                   std::to_string(bad) + ")");
  }
  return {};
}

ValidSpec::ValidSpec() {
  static const auto k_empty = std::make_shared<const Data>();
  m_data = k_empty;
}

ValidSpec ValidSpec::trusted(EnvironmentSpec spec) {
  ValidSpec v;
  std::string json = to_json(spec);
  std::string hash = sha256_hex(json);
  v.m_data = std::make_shared<const Data>(Data{std::move(spec), std::move(json), std::move(hash)});
  return v;
}

Expected<ValidSpec> ValidSpec::check(EnvironmentSpec spec) {
  if (auto ok = validate(spec); !ok) {
    return ok.error();
  }
  return trusted(std::move(spec));
}

Expected<void> validate(const EnvironmentSpec& spec) {
  for (auto check : {validate_path(spec.path, "path"), validate_name(spec.name, "name"),
                     validate_version(spec.version, "version"),
                     validate_description(spec.description, "description"),
                     check_package_count(spec.packages.size(), "packages")}) {
    if (!check) {
      return check;
    }
  }
  for (std::size_t i = 0; i < spec.packages.size(); ++i) {
    const std::string field = index_field("packages", i);
    if (auto ok = validate_package_name(spec.packages[i].name, field + ".name"); !ok) {
      return ok;
    }
    if (auto ok = validate_package_version(spec.packages[i].version, field + ".version"); !ok) {
      return ok;
    }
  }
  if (auto dup = find_duplicate(spec.packages)) {
    return invalid(index_field("packages", dup->second) + ": duplicate package " +
                   quoted(spec.packages[dup->second].name) + " (also " +
                   index_field("packages", dup->first) + ")");
  }
  return {};
}

Expected<Package> parse_package_string(std::string_view text, std::string_view field) {
  const std::string_view spec = trim(text);
  if (spec.empty()) {
    return invalid(prefix(field) + "empty package spec");
  }
  // Spack's spec syntax beyond "name@version" would let a user pull in arbitrary variants,
  // compilers and dependencies, and a space would split one spec into several.
  if (spec.find_first_of("+~^% \t\r\n\f\v") != std::string_view::npos) {
    return invalid(prefix(field) + "invalid package spec " + quoted(spec) +
                   ": only 'name' or 'name@version' is supported (no variants, dependencies, "
                   "compilers or spaces)");
  }
  const auto at = spec.find('@');
  if (at != std::string_view::npos && spec.find('@', at + 1) != std::string_view::npos) {
    return invalid(prefix(field) + "invalid package spec " + quoted(spec) + ": more than one '@'");
  }
  Package package;
  package.name = std::string(spec.substr(0, at));
  if (auto ok = validate_package_name(package.name, field); !ok) {
    return ok.error();
  }
  if (at == std::string_view::npos) {
    return package;
  }
  package.version = std::string(spec.substr(at + 1));
  if (package.version.empty()) {
    return invalid(prefix(field) + "invalid package spec " + quoted(spec) +
                   ": no version after '@'");
  }
  if (package.version.find_first_of(":,") != std::string::npos) {
    return invalid(prefix(field) + "invalid package spec " + quoted(spec) +
                   ": version ranges and lists are not supported; give one version, which Spack "
                   "reads as that version or any of its sub-versions ('@1.26' is 1.26 or any "
                   "1.26.x)");
  }
  if (auto ok = validate_package_version(package.version, field); !ok) {
    return ok.error();
  }
  return package;
}

Expected<ValidSpec> parse_softpack_yml(std::string_view text, std::string_view source_name,
                                       std::string_view path, std::string_view name,
                                       std::string_view version) {
  const std::string source(source_name);
  EnvironmentSpec spec{std::string(path), std::string(name), std::string(version), {}, {}};
  for (auto check : {validate_path(spec.path, "path"), validate_name(spec.name, "name"),
                     validate_version(spec.version, "version"),
                     check_input_size(text, "softpack.yml", source)}) {
    if (!check) {
      return check.error();
    }
  }
  // parse_yaml refuses NUL bytes and invalid UTF-8 before yaml-cpp sees them.
  auto doc = parse_yaml(text, source_name, YamlLimits{k_max_yaml_nodes, k_max_yaml_depth});
  if (!doc) {
    return doc.error();
  }
  if (!doc->is_map()) {
    return invalid("expected a map with 'description' and 'packages' at the top level, got " +
                       std::string(doc->kind_name()),
                   doc->where(source_name));
  }

  const YamlNode* packages = nullptr;
  int packages_line = 0;
  for (const auto& entry : doc->entries) {
    const YamlNode& value = entry.value;
    if (entry.key == "description") {
      if (!value.is_null() && !value.is_scalar()) {
        return invalid("description: expected text, got " + std::string(value.kind_name()),
                       value.where(source_name));
      }
      if (auto ok = validate_description(value.scalar, "description"); !ok) {
        return ok.error().with_context(value.where(source_name));
      }
      spec.description = value.scalar;
    } else if (entry.key == "packages") {
      packages = &value;
      packages_line = entry.line;
    } else {
      return invalid("unknown key " + quoted(entry.key) +
                         " (a softpack.yml has only 'description' and 'packages')",
                     source + ":" + std::to_string(entry.line));
    }
  }

  const std::string packages_where = source + ":" + std::to_string(packages_line);
  if (packages == nullptr) {
    return invalid("missing 'packages': at least one package is required", source);
  }
  if (!packages->is_null() && !packages->is_sequence()) {
    return invalid("packages: expected a list of package specs, got " +
                       std::string(packages->kind_name()),
                   packages_where);
  }
  if (auto ok = check_package_count(packages->items.size(), "packages"); !ok) {
    return ok.error().with_context(packages_where);
  }
  std::vector<int> lines;
  for (std::size_t i = 0; i < packages->items.size(); ++i) {
    const YamlNode& item = packages->items[i];
    const std::string field = index_field("packages", i);
    if (!item.is_scalar()) {
      return invalid(field + ": expected a package spec like 'name@version', got " +
                         std::string(item.kind_name()),
                     item.where(source_name));
    }
    auto package = parse_package_string(item.scalar, field);
    if (!package) {
      return package.error().with_context(item.where(source_name));
    }
    spec.packages.push_back(std::move(*package));
    lines.push_back(item.line);
  }
  if (auto dup = find_duplicate(spec.packages)) {
    const auto [first, again] = *dup;
    return invalid(index_field("packages", again) + ": duplicate package " +
                       quoted(spec.packages[again].name) + " (also " +
                       index_field("packages", first) + " on line " + std::to_string(lines[first]) +
                       ")",
                   packages->items[again].where(source_name));
  }
  // Every field was validated above, as it was read (with its line).
  return ValidSpec::trusted(std::move(spec));
}

Expected<std::pair<std::string, std::string>> split_full_path(std::string_view value,
                                                              std::string_view field) {
  const auto last = value.rfind('/');
  if (last == std::string_view::npos || value.find('/') == last) {
    return invalid(prefix(field) + "invalid environment " + quoted(value) +
                   ": must be users/<owner>/<name> or groups/<group>/<name>");
  }
  const std::string_view path = value.substr(0, last);
  const std::string_view name = value.substr(last + 1);
  if (auto ok = validate_path(path, field); !ok) {
    return ok.error();
  }
  if (auto ok = validate_name(name, field); !ok) {
    return ok.error();
  }
  return std::pair{std::string(path), std::string(name)};
}

std::optional<std::pair<std::string, std::string>> split_versioned_name(std::string_view dir) {
  const auto dash = dir.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == dir.size()) {
    return std::nullopt;
  }
  const std::string_view version = dir.substr(dash + 1);
  if (version.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  return std::pair{std::string(dir.substr(0, dash)), std::string(version)};
}

// JSON ------------------------------------------------------------------------------------------

namespace {

std::string_view kind_name(const json::value& v) {
  return json_kind_name(v);
}

Expected<json::value> parse_json(std::string_view text, std::string_view what) {
  if (auto ok = check_input_size(text, what, {}); !ok) {
    return ok.error();
  }
  // Boost.JSON refuses invalid UTF-8 and lone surrogate escapes unless told otherwise.
  json::parse_options options;
  options.max_depth = k_max_json_depth;
  json::parser parser(json::storage_ptr(), options);
  boost::system::error_code ec;
  const std::size_t consumed = parser.write(text.data(), text.size(), ec);
  if (ec) {
    return invalid(std::string(what) + " is not valid JSON: " + ec.message() + " at offset " +
                   std::to_string(consumed));
  }
  return parser.release();
}

// How a missing field is treated: go-softpack-builder decodes with Go's encoding/json, where an
// absent or null field leaves the Go value empty; the canonical form requires every field.
enum class Presence { optional, required };

// The string at obj[key]; `path` names the field in errors.
Expected<std::string> get_string(const json::object& obj, std::string_view key,
                                 const std::string& path, Presence presence) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr || (v->is_null() && presence == Presence::optional)) {
    if (presence == Presence::required) {
      return invalid(path + ": missing");
    }
    return std::string();
  }
  if (!v->is_string()) {
    return invalid(path + ": expected a string, got " + std::string(kind_name(*v)));
  }
  return std::string(v->get_string());
}

// obj[key] as an array, or an empty one when absent and optional.
Expected<const json::array*> get_array(const json::object& obj, std::string_view key,
                                       const std::string& path, Presence presence) {
  static const json::array k_empty;
  const json::value* v = obj.if_contains(key);
  if (v == nullptr || (v->is_null() && presence == Presence::optional)) {
    if (presence == Presence::required) {
      return invalid(path + ": missing");
    }
    return &k_empty;
  }
  if (!v->is_array()) {
    return invalid(path + ": expected an array, got " + std::string(kind_name(*v)));
  }
  return &v->get_array();
}

Expected<void> reject_unknown(const json::object& obj, std::initializer_list<std::string_view> keys,
                              const std::string& path) {
  for (const auto& member : obj) {
    if (std::find(keys.begin(), keys.end(), member.key()) == keys.end()) {
      return invalid((path.empty() ? "" : path + ": ") + "unknown field " + quoted(member.key()));
    }
  }
  return {};
}

// Reads packages[{name, version}] at `path`, checking each as it goes so that errors name the
// exact JSON path.
Expected<std::vector<Package>> get_packages(const json::array& items, const std::string& path,
                                            Presence version_presence, bool strict) {
  if (auto ok = check_package_count(items.size(), path); !ok) {
    return ok.error();
  }
  std::vector<Package> packages;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string field = index_field(path, i);
    if (!items[i].is_object()) {
      return invalid(field + ": expected an object, got " + std::string(kind_name(items[i])));
    }
    const json::object& obj = items[i].get_object();
    if (strict) {
      if (auto ok = reject_unknown(obj, {"name", "version"}, field); !ok) {
        return ok.error();
      }
    }
    auto name = get_string(obj, "name", field + ".name", Presence::required);
    if (!name) {
      return name.error();
    }
    if (auto ok = validate_package_name(*name, field + ".name"); !ok) {
      return ok.error();
    }
    auto version = get_string(obj, "version", field + ".version", version_presence);
    if (!version) {
      return version.error();
    }
    if (auto ok = validate_package_version(*version, field + ".version"); !ok) {
      return ok.error();
    }
    packages.push_back(Package{std::move(*name), std::move(*version)});
  }
  if (auto dup = find_duplicate(packages)) {
    return invalid(index_field(path, dup->second) + ": duplicate package " +
                   quoted(packages[dup->second].name) + " (also " + index_field(path, dup->first) +
                   ")");
  }
  return packages;
}

} // namespace

Expected<ValidSpec> parse_build_request_json(std::string_view text) {
  auto root = parse_json(text, "build request");
  if (!root) {
    return root.error();
  }
  if (!root->is_object()) {
    return invalid("build request: expected a JSON object, got " + std::string(kind_name(*root)));
  }
  // Unknown fields are ignored, as go-softpack-builder's json.Unmarshal does.
  const json::object& obj = root->get_object();
  EnvironmentSpec spec;
  auto full = get_string(obj, "name", "name", Presence::optional);
  if (!full) {
    return full.error();
  }
  if (full->empty()) {
    return invalid("name: missing");
  }
  auto split = split_full_path(*full, "name");
  if (!split) {
    return split.error();
  }
  std::tie(spec.path, spec.name) = std::move(*split);
  auto version = get_string(obj, "version", "version", Presence::optional);
  if (!version) {
    return version.error();
  }
  spec.version = std::move(*version);
  if (auto ok = validate_version(spec.version, "version"); !ok) {
    return ok.error();
  }

  json::object empty_model;
  const json::object* model = &empty_model;
  if (const json::value* v = obj.if_contains("model"); v != nullptr && !v->is_null()) {
    if (!v->is_object()) {
      return invalid("model: expected an object, got " + std::string(kind_name(*v)));
    }
    model = &v->get_object();
  }
  auto description = get_string(*model, "description", "model.description", Presence::optional);
  if (!description) {
    return description.error();
  }
  spec.description = std::move(*description);
  if (auto ok = validate_description(spec.description, "model.description"); !ok) {
    return ok.error();
  }
  auto items = get_array(*model, "packages", "model.packages", Presence::optional);
  if (!items) {
    return items.error();
  }
  auto packages = get_packages(**items, "model.packages", Presence::optional, false);
  if (!packages) {
    return packages.error();
  }
  spec.packages = std::move(*packages);
  return ValidSpec::check(std::move(spec));
}

std::string to_json(const EnvironmentSpec& spec) {
  json::array packages;
  for (const auto& p : spec.packages) {
    packages.push_back(json::object{{"name", p.name}, {"version", p.version}});
  }
  // json::object keeps insertion order, which makes this canonical.
  json::object obj;
  obj["path"] = spec.path;
  obj["name"] = spec.name;
  obj["version"] = spec.version;
  obj["description"] = spec.description;
  obj["packages"] = std::move(packages);
  return json::serialize(obj);
}

Expected<ValidSpec> from_json(std::string_view text) {
  auto root = parse_json(text, "spec");
  if (!root) {
    return root.error();
  }
  if (!root->is_object()) {
    return invalid("spec: expected a JSON object, got " + std::string(kind_name(*root)));
  }
  // Our own canonical form: every field is required and nothing else may appear, so that what
  // is read back hashes the same.
  const json::object& obj = root->get_object();
  if (auto ok = reject_unknown(obj, {"path", "name", "version", "description", "packages"}, "");
      !ok) {
    return ok.error();
  }
  EnvironmentSpec spec;
  for (auto [key, out] :
       {std::pair{"path", &spec.path}, std::pair{"name", &spec.name},
        std::pair{"version", &spec.version}, std::pair{"description", &spec.description}}) {
    auto value = get_string(obj, key, key, Presence::required);
    if (!value) {
      return value.error();
    }
    *out = std::move(*value);
  }
  auto items = get_array(obj, "packages", "packages", Presence::required);
  if (!items) {
    return items.error();
  }
  auto packages = get_packages(**items, "packages", Presence::required, true);
  if (!packages) {
    return packages.error();
  }
  spec.packages = std::move(*packages);
  return ValidSpec::check(std::move(spec));
}

std::string spec_hash(const EnvironmentSpec& spec) {
  return sha256_hex(to_json(spec));
}

} // namespace softpack::spec
