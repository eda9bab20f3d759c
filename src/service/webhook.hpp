#pragma once

// The service's part of a GitLab push to the artifacts repository: whether it needs reading
// (pure), which environments it asks to build (pure, from what git says the push changed and
// who made those changes), and reading their softpack.yml at the pushed commit (git, blocking:
// done on a worker thread).
//
// What a push changed is `git diff-tree before after` in a fetched mirror, not the payload's
// commit list (GitLab lists at most 20 commits). Who changed it is `git log before..after`:
// a softpack.yml is the builder's own change, and ignored, when every commit of the push that
// touched it is softpack-builder's (a Softpack-Build-Id: trailer line, or the configured
// artifacts.author_email). When a push mixes builder and user commits on one file, the user's
// edit wins: the environment is read at `after` and built (unless it already has a module
// there), so that no user change is lost to a builder commit around it.

#include "artifacts/git_reader.hpp"
#include "config/config.hpp"
#include "server/gitlab.hpp"
#include "spec/spec.hpp"
#include "util/command.hpp"
#include "util/error.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace softpack::service {

struct PushPlan {
  bool read = false;   // whether the repository must be read; false = nothing to do
  std::string before;  // "" = no usable `before` (a new branch): everything at `after` counts
  std::string after;   // the commit the branch points to after the push
  std::string message; // what the push asks, for the answer and the log
  std::string pusher;  // the GitLab user who pushed (builds are attributed to them); may be ""
};

// A push to another branch than artifacts.branch, or deleting the branch, asks for nothing.
PushPlan plan_push(const server::GitlabPush& push, const config::ArtifactsConfig& artifacts);

// Whether softpack-builder made the commit: a line of its message starts with
// "Softpack-Build-Id:", or its author email is artifacts.author_email (ignoring case).
bool made_by_builder(const artifacts::LoggedCommit& commit,
                     const config::ArtifactsConfig& artifacts);

struct PushChanges {
  std::vector<server::ChangedEnvironment> environments; // to check, in the order given
  std::vector<std::string> builders_own; // softpack.yml files only the builder's commits touched
};

// Of the files a push added or modified (`changed`), the environments' softpack.yml files a
// user changed: every one that some commit of `commits` not made by the builder touched, or
// that no commit's file list names (e.g. a merge's own resolution). Other files are skipped.
PushChanges environments_to_check(const std::vector<std::string>& changed,
                                  const std::vector<artifacts::LoggedCommit>& commits,
                                  const config::ArtifactsConfig& artifacts);

struct PushRead {
  std::string commit;                 // where the specs were read (`after`)
  std::vector<spec::ValidSpec> specs; // to build
  std::string summary;                // what was found, for the log
  std::string pusher;                 // PushPlan::pusher
};

// Fetches the repository into its mirror and reads the softpack.yml of each environment a user
// changed in the push, at `after`, leaving out those that already have a module there and
// those that do not parse (logged with the delivery id: a redelivery would not change them).
// An error means the push could not be read (fetch, git): a redelivery should try again.
// A `before` missing from the fetched repository (a force push over commits never fetched)
// counts as no `before` (with a warning). An `after` missing from it (the branch moved on by a
// force push before the fetch) is read as nothing to build, with a warning.
Expected<PushRead> read_push(CommandRunner& runner, const artifacts::GitReaderOptions& repository,
                             const PushPlan& plan, const config::ArtifactsConfig& artifacts,
                             const std::string& delivery_id);

} // namespace softpack::service
