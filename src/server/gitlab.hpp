#pragma once

// GitLab's "Push Hook" webhook payload (pure parsing), and which environments a push adds or
// changes: files environments/<users|groups>/<owner>/<name>-<version>/softpack.yml.

#include "util/error.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace softpack::server {

struct GitlabCommit {
  std::string id;
  std::string message;
  std::string author_name;
  std::string author_email;
  std::vector<std::string> added, modified, removed;
};

struct GitlabPush {
  std::string object_kind; // "push"
  std::string ref;         // "refs/heads/main"
  std::string before;      // commit ids
  std::string after;
  std::string checkout_sha; // may be empty (branch deleted)
  std::string project_path; // project.path_with_namespace
  std::vector<GitlabCommit> commits;
};

// Parses the JSON body. Errors (invalid JSON, wrong types, object_kind not "push") are
// invalid_input naming the JSON path.
Expected<GitlabPush> parse_push_hook(std::string_view body);

struct ChangedEnvironment {
  std::string path;    // "users/alice"
  std::string name;    // "my-env"
  std::string version; // "1"
  std::string file;    // "environments/users/alice/my-env-1/softpack.yml"
};

// Environments whose softpack.yml was added or modified by commits of the push (not removed by
// a later commit of it), in first-seen order, without duplicates. Paths that do not match the
// layout, or whose names fail validation, are skipped. `<name>-<version>` is split at the last
// '-'.
std::vector<ChangedEnvironment> changed_environments(const GitlabPush& push);

} // namespace softpack::server
