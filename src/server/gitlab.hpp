#pragma once

// GitLab's "Push Hook" webhook payload and delivery headers (pure parsing), and which
// environment a file of the artifacts repository belongs to:
// environments/<users|groups>/<owner>/<name>-<version>/softpack.yml.
//
// What a push changed is not read from its `commits` list: GitLab lists at most 20 commits (the
// newest), so the service diffs `before`..`after` in a fetched copy of the repository instead
// (service/webhook.hpp).

#include "util/error.hpp"

#include <cstddef>
#include <optional>
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
  std::string object_kind;  // "push"
  std::string ref;          // "refs/heads/main"
  std::string before;       // commit ids (40 or 64 hex digits); all zeros: the branch is new
  std::string after;        // all zeros: the branch was deleted
  std::string checkout_sha; // may be empty (branch deleted)
  std::string project_path; // project.path_with_namespace
  std::vector<GitlabCommit> commits; // at most the 20 newest, oldest first: for logs only
  std::size_t total_commits_count = 0;
  std::string user_username; // who pushed (their GitLab user name); "" when not said
};

// Parses the JSON body. Errors (invalid JSON, wrong types, object_kind not "push", a `before`
// or `after` that is not a commit id) are invalid_input naming the JSON path.
Expected<GitlabPush> parse_push_hook(std::string_view body);

// Whether `id` is a full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
bool is_commit_id(std::string_view id);
// Whether `id` is GitLab's "no commit" (all zeros): `before` of a new branch, `after` of a
// deleted one.
bool is_zero_commit(std::string_view id);

// The id that names one event across GitLab's redeliveries, from the request's headers (nullptr
// = absent): `Idempotency-Key` (GitLab 17.4 and later; the same on every retry and on "Resend
// request"), else `X-Gitlab-Event-UUID` (older GitLab; it may differ between attempts), else
// "". A value that is empty, longer than 200 bytes or not printable ASCII counts as absent.
std::string delivery_id(const std::string* idempotency_key, const std::string* event_uuid);

struct ChangedEnvironment {
  std::string path;    // "users/alice"
  std::string name;    // "my-env"
  std::string version; // "1"
  std::string file;    // "environments/users/alice/my-env-1/softpack.yml"
};

// The environment whose softpack.yml `file` is, or nullopt when the path does not match the
// layout or its owner, name or version fail validation. `<name>-<version>` is split at the last
// '-'.
std::optional<ChangedEnvironment> environment_of(std::string_view file);

} // namespace softpack::server
