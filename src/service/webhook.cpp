#include "service/webhook.hpp"

#include "artifacts/git_reader.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace softpack::service {

namespace {

bool made_by_builder(const server::GitlabCommit& c, const config::ArtifactsConfig& artifacts) {
  return c.message.find("Softpack-Build-Id:") != std::string::npos ||
         (!artifacts.author_email.empty() && c.author_email == artifacts.author_email);
}

} // namespace

PushWork plan_push(const server::GitlabPush& push, const config::ArtifactsConfig& artifacts) {
  PushWork work;
  if (push.ref != "refs/heads/" + artifacts.branch) {
    work.message = "push to " + push.ref + " ignored (builds come from " + artifacts.branch + ")";
    return work;
  }
  server::GitlabPush theirs = push;
  std::erase_if(theirs.commits,
                [&](const server::GitlabCommit& c) { return made_by_builder(c, artifacts); });
  if (theirs.commits.empty()) {
    work.message = "push made by softpack-builder ignored";
    return work;
  }
  work.environments = server::changed_environments(theirs);
  if (work.environments.empty()) {
    work.message = "no environment's softpack.yml changed";
    return work;
  }
  work.commit = theirs.checkout_sha.empty() ? theirs.after : theirs.checkout_sha;
  work.message = std::to_string(work.environments.size()) + " environment(s) to check";
  return work;
}

std::vector<spec::ValidSpec> read_pushed_specs(CommandRunner& runner, const std::string& remote,
                                               const std::filesystem::path& mirror,
                                               const PushWork& work,
                                               const std::string& delivery_id) {
  artifacts::GitReader reader(runner, remote, mirror);
  std::vector<spec::ValidSpec> specs;
  if (auto f = reader.fetch(); !f) {
    spdlog::error("webhook {}: {}", delivery_id, f.error().describe());
    return specs;
  }
  for (const auto& env : work.environments) {
    const std::string dir = env.file.substr(0, env.file.rfind('/'));
    auto built = reader.exists(work.commit, dir + "/module");
    if (!built) {
      spdlog::error("webhook {}: {}", delivery_id, built.error().describe());
      continue;
    }
    if (*built) {
      spdlog::info("webhook {}: {} already has a module; not rebuilt", delivery_id, dir);
      continue;
    }
    auto text = reader.read(work.commit, env.file);
    if (!text || !text->has_value()) {
      spdlog::error("webhook {}: cannot read {} at {}", delivery_id, env.file, work.commit);
      continue;
    }
    auto spec = spec::parse_softpack_yml(**text, env.file, env.path, env.name, env.version);
    if (!spec) {
      spdlog::error("webhook {}: {}", delivery_id, spec.error().describe());
      continue;
    }
    specs.push_back(std::move(*spec));
  }
  return specs;
}

} // namespace softpack::service
