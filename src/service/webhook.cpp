#include "service/webhook.hpp"

#include "util/text.hpp"

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

namespace softpack::service {

namespace {

constexpr std::string_view k_environments_dir = "environments/";
constexpr std::string_view k_trailer = "Softpack-Build-Id:";

} // namespace

PushPlan plan_push(const server::GitlabPush& push, const config::ArtifactsConfig& artifacts) {
  PushPlan plan;
  if (push.ref != "refs/heads/" + artifacts.branch) {
    plan.message =
        "push to " + printable(push.ref) + " ignored (builds come from " + artifacts.branch + ")";
    return plan;
  }
  if (!server::is_commit_id(push.after)) {
    plan.message = "push without an 'after' commit ignored";
    return plan;
  }
  if (server::is_zero_commit(push.after)) {
    plan.message = "deletion of " + push.ref + " ignored";
    return plan;
  }
  plan.read = true;
  plan.after = push.after;
  plan.pusher = printable(push.user_username, 64);
  if (server::is_commit_id(push.before) && !server::is_zero_commit(push.before)) {
    plan.before = push.before;
    plan.message = "push to " + push.ref + " queued: " + push.before.substr(0, 12) + ".." +
                   push.after.substr(0, 12) + " is read from the repository";
  } else {
    plan.message = "push creating " + push.ref + " queued: every softpack.yml at " +
                   push.after.substr(0, 12) + " is checked";
  }
  return plan;
}

bool made_by_builder(const artifacts::LoggedCommit& commit,
                     const config::ArtifactsConfig& artifacts) {
  if (!artifacts.author_email.empty() &&
      to_lower(commit.author_email) == to_lower(artifacts.author_email)) {
    return true;
  }
  return std::ranges::any_of(split_lines(commit.message),
                             [](std::string_view line) { return line.starts_with(k_trailer); });
}

PushChanges environments_to_check(const std::vector<std::string>& changed,
                                  const std::vector<artifacts::LoggedCommit>& commits,
                                  const config::ArtifactsConfig& artifacts) {
  std::set<std::string, std::less<>> by_user, by_builder;
  for (const auto& c : commits) {
    auto& touched = made_by_builder(c, artifacts) ? by_builder : by_user;
    touched.insert(c.files.begin(), c.files.end());
  }
  PushChanges out;
  std::set<std::string, std::less<>> seen;
  for (const auto& file : changed) {
    auto env = server::environment_of(file);
    if (!env || !seen.insert(file).second) {
      continue;
    }
    if (by_builder.contains(file) && !by_user.contains(file)) {
      out.builders_own.push_back(file);
      continue;
    }
    out.environments.push_back(std::move(*env));
  }
  return out;
}

Expected<PushRead> read_push(CommandRunner& runner, const artifacts::GitReaderOptions& repository,
                             const PushPlan& plan, const config::ArtifactsConfig& artifacts,
                             const std::string& delivery_id) {
  artifacts::GitReader reader(runner, repository);
  if (auto f = reader.fetch(); !f) {
    return f.error();
  }
  PushRead result;
  result.pusher = plan.pusher;
  result.commit = plan.after;
  auto have_after = reader.has_commit(plan.after);
  if (!have_after) {
    return have_after.error();
  }
  if (!*have_after) {
    spdlog::warn("webhook {}: commit {} is not on the remote's branches any more (moved on by a "
                 "force push?); the push that moved it is read instead",
                 delivery_id, plan.after);
    result.summary = "commit " + plan.after + " not found; nothing to build";
    return result;
  }
  std::optional<std::string> before;
  if (!plan.before.empty()) {
    auto have_before = reader.has_commit(plan.before);
    if (!have_before) {
      return have_before.error();
    }
    if (*have_before) {
      before = plan.before;
    } else {
      spdlog::warn("webhook {}: 'before' commit {} is not in the repository (a force push over "
                   "commits never fetched?): every softpack.yml at {} is checked",
                   delivery_id, plan.before, plan.after);
    }
  }
  const std::string dir(k_environments_dir);
  auto changed = reader.changed_files(before, plan.after, dir);
  if (!changed) {
    return changed.error();
  }
  auto commits = reader.commits(before, plan.after, dir);
  if (!commits) {
    return commits.error();
  }
  const PushChanges changes = environments_to_check(*changed, *commits, artifacts);
  for (const auto& file : changes.builders_own) {
    spdlog::info("webhook {}: {} changed by softpack-builder's own commits only; not rebuilt",
                 delivery_id, file);
  }
  std::size_t already_built = 0, unreadable = 0;
  for (const auto& env : changes.environments) {
    const std::string env_dir = env.file.substr(0, env.file.rfind('/'));
    auto built = reader.exists(plan.after, env_dir + "/module");
    if (!built) {
      return built.error();
    }
    if (*built) {
      ++already_built;
      spdlog::info("webhook {}: {} already has a module; not rebuilt", delivery_id, env_dir);
      continue;
    }
    auto text = reader.read(plan.after, env.file);
    if (!text) {
      return text.error();
    }
    if (!text->has_value()) {
      return make_error(ErrorKind::command, "listed as changed but not found at " + plan.after,
                        env.file);
    }
    auto spec = spec::parse_softpack_yml(**text, env.file, env.path, env.name, env.version);
    if (!spec) {
      // The user's file is wrong: a redelivery reads the same file, so it is not retried.
      ++unreadable;
      spdlog::error("webhook {}: {} at {}: {}", delivery_id, env.file, plan.after,
                    spec.error().describe());
      continue;
    }
    result.specs.push_back(std::move(*spec));
  }
  result.summary = std::to_string(changed->size()) + " file(s) changed under " + dir + " in " +
                   std::to_string(commits->size()) +
                   " commit(s): " + std::to_string(result.specs.size()) +
                   " environment(s) to build, " + std::to_string(changes.builders_own.size()) +
                   " changed by the builder only, " + std::to_string(already_built) +
                   " already built, " + std::to_string(unreadable) + " invalid";
  return result;
}

} // namespace softpack::service
