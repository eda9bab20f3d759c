#include "server/gitlab.hpp"

#include "spec/spec.hpp"
#include "util/json_names.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>

#include <boost/json.hpp>

namespace softpack::server {

namespace json = boost::json;

namespace {

// GitLab's payloads are flat (depth 4 in the documented example); anything deeper is not one.
constexpr std::size_t k_max_json_depth = 32;

Error invalid(std::string message) {
  return make_error(ErrorKind::invalid_input, std::move(message), "GitLab push hook");
}

std::string_view kind_name(const json::value& v) {
  return json_kind_name(v);
}

// The value in an error message: printable ASCII as is, everything else as \xNN, truncated.
std::string shown(std::string_view value) {
  constexpr std::size_t k_max_shown = 80;
  std::string out = "\"";
  for (std::size_t i = 0; i < value.size() && i < k_max_shown; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static constexpr char k_hex[] = "0123456789abcdef";
      out += "\\x";
      out += k_hex[c >> 4];
      out += k_hex[c & 0xf];
    }
  }
  if (value.size() > k_max_shown) {
    out += "...";
  }
  return out + "\"";
}

std::string join(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : std::string(parent) + "." + std::string(key);
}

// GitLab omits some fields (and sends null for others, e.g. checkout_sha of a deleted branch),
// so absent and null both mean "empty"; a present value of another type is an error.
Expected<std::string> optional_string(const json::object& obj, std::string_view key,
                                      std::string_view parent) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr || v->is_null()) {
    return std::string();
  }
  if (!v->is_string()) {
    return invalid(join(parent, key) + ": expected a string, got " + std::string(kind_name(*v)));
  }
  return std::string(v->get_string());
}

// obj[key] as an object, nullptr when absent or null.
Expected<const json::object*> optional_object(const json::object& obj, std::string_view key,
                                              std::string_view parent) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr || v->is_null()) {
    return static_cast<const json::object*>(nullptr);
  }
  if (!v->is_object()) {
    return invalid(join(parent, key) + ": expected an object, got " + std::string(kind_name(*v)));
  }
  return &v->get_object();
}

Expected<const json::array*> optional_array(const json::object& obj, std::string_view key,
                                            std::string_view parent) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr || v->is_null()) {
    return static_cast<const json::array*>(nullptr);
  }
  if (!v->is_array()) {
    return invalid(join(parent, key) + ": expected an array, got " + std::string(kind_name(*v)));
  }
  return &v->get_array();
}

Expected<std::vector<std::string>> string_list(const json::object& obj, std::string_view key,
                                               std::string_view parent) {
  auto arr = optional_array(obj, key, parent);
  if (!arr) {
    return arr.error();
  }
  std::vector<std::string> out;
  if (*arr == nullptr) {
    return out;
  }
  out.reserve((*arr)->size());
  for (std::size_t i = 0; i < (*arr)->size(); ++i) {
    const json::value& item = (**arr)[i];
    if (!item.is_string()) {
      return invalid(join(parent, key) + "[" + std::to_string(i) + "]: expected a string, got " +
                     std::string(kind_name(item)));
    }
    out.emplace_back(item.get_string());
  }
  return out;
}

Expected<GitlabCommit> parse_commit(const json::value& value, const std::string& path) {
  if (!value.is_object()) {
    return invalid(path + ": expected an object, got " + std::string(kind_name(value)));
  }
  const json::object& obj = value.get_object();
  GitlabCommit c;
  for (auto [field, key] : {std::pair{&c.id, "id"}, std::pair{&c.message, "message"}}) {
    auto s = optional_string(obj, key, path);
    if (!s) {
      return s.error();
    }
    *field = std::move(*s);
  }
  auto author = optional_object(obj, "author", path);
  if (!author) {
    return author.error();
  }
  if (*author != nullptr) {
    const std::string author_path = path + ".author";
    for (auto [field, key] :
         {std::pair{&c.author_name, "name"}, std::pair{&c.author_email, "email"}}) {
      auto s = optional_string(**author, key, author_path);
      if (!s) {
        return s.error();
      }
      *field = std::move(*s);
    }
  }
  for (auto [list, key] : {std::pair{&c.added, "added"}, std::pair{&c.modified, "modified"},
                           std::pair{&c.removed, "removed"}}) {
    auto files = string_list(obj, key, path);
    if (!files) {
      return files.error();
    }
    *list = std::move(*files);
  }
  return c;
}

} // namespace

Expected<GitlabPush> parse_push_hook(std::string_view body) {
  json::parse_options options;
  options.max_depth = k_max_json_depth;
  json::parser parser(json::storage_ptr(), options);
  boost::system::error_code ec;
  const std::size_t consumed = parser.write(body.data(), body.size(), ec);
  if (ec) {
    return invalid("not valid JSON: " + ec.message() + " at offset " + std::to_string(consumed));
  }
  const json::value root = parser.release();
  if (!root.is_object()) {
    return invalid("expected a JSON object, got " + std::string(kind_name(root)));
  }
  const json::object& obj = root.get_object();

  GitlabPush push;
  const json::value* kind = obj.if_contains("object_kind");
  if (kind == nullptr) {
    return invalid("object_kind: missing");
  }
  if (!kind->is_string()) {
    return invalid("object_kind: expected a string, got " + std::string(kind_name(*kind)));
  }
  push.object_kind = std::string(kind->get_string());
  if (push.object_kind != "push") {
    return invalid("object_kind: expected \"push\", got " + shown(push.object_kind));
  }
  for (auto [field, key] :
       {std::pair{&push.ref, "ref"}, std::pair{&push.before, "before"},
        std::pair{&push.after, "after"}, std::pair{&push.checkout_sha, "checkout_sha"},
        std::pair{&push.user_username, "user_username"}}) {
    auto s = optional_string(obj, key, "");
    if (!s) {
      return s.error();
    }
    *field = std::move(*s);
  }
  for (auto [field, key] : {std::pair{&push.before, "before"}, std::pair{&push.after, "after"}}) {
    if (!field->empty() && !is_commit_id(*field)) {
      return invalid(std::string(key) + ": expected a commit id (40 or 64 hex digits), got " +
                     shown(*field));
    }
  }
  if (const json::value* total = obj.if_contains("total_commits_count");
      total != nullptr && !total->is_null()) {
    if (total->is_uint64()) {
      push.total_commits_count = total->get_uint64();
    } else if (total->is_int64() && total->get_int64() >= 0) {
      push.total_commits_count = static_cast<std::uint64_t>(total->get_int64());
    } else {
      return invalid("total_commits_count: expected a non-negative integer, got " +
                     (total->is_int64() ? std::to_string(total->get_int64())
                                        : std::string(kind_name(*total))));
    }
  }
  auto project = optional_object(obj, "project", "");
  if (!project) {
    return project.error();
  }
  if (*project != nullptr) {
    auto s = optional_string(**project, "path_with_namespace", "project");
    if (!s) {
      return s.error();
    }
    push.project_path = std::move(*s);
  }
  auto commits = optional_array(obj, "commits", "");
  if (!commits) {
    return commits.error();
  }
  if (*commits != nullptr) {
    push.commits.reserve((*commits)->size());
    for (std::size_t i = 0; i < (*commits)->size(); ++i) {
      auto c = parse_commit((**commits)[i], "commits[" + std::to_string(i) + "]");
      if (!c) {
        return c.error();
      }
      push.commits.push_back(std::move(*c));
    }
  }
  return push;
}

bool is_commit_id(std::string_view id) {
  return (id.size() == 40 || id.size() == 64) &&
         id.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

bool is_zero_commit(std::string_view id) {
  return is_commit_id(id) && id.find_first_not_of('0') == std::string_view::npos;
}

std::string delivery_id(const std::string* idempotency_key, const std::string* event_uuid) {
  // Stored and logged as is, so only a plain token is taken; GitLab sends UUIDs.
  constexpr std::size_t k_max_id = 200;
  auto usable = [](const std::string* v) {
    return v != nullptr && !v->empty() && v->size() <= k_max_id &&
           std::all_of(v->begin(), v->end(), [](char c) { return c > 0x20 && c < 0x7f; });
  };
  if (usable(idempotency_key)) {
    return *idempotency_key;
  }
  if (usable(event_uuid)) {
    return *event_uuid;
  }
  return {};
}

std::optional<ChangedEnvironment> environment_of(std::string_view file) {
  std::vector<std::string_view> parts;
  std::string_view rest = file;
  while (true) {
    const auto slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(slash + 1);
  }
  if (parts.size() != 5 || parts[0] != "environments" || parts[4] != "softpack.yml") {
    return std::nullopt;
  }
  const std::string path = std::string(parts[1]) + "/" + std::string(parts[2]);
  const std::string_view dir = parts[3];
  const auto dash = dir.rfind('-');
  if (dash == std::string_view::npos) {
    return std::nullopt;
  }
  ChangedEnvironment env{path, std::string(dir.substr(0, dash)), std::string(dir.substr(dash + 1)),
                         std::string(file)};
  if (!spec::validate_path(env.path, "path") || !spec::validate_name(env.name, "name") ||
      !spec::validate_version(env.version, "version")) {
    return std::nullopt;
  }
  return env;
}

} // namespace softpack::server
