// GitLab's Push Hook body (POST /webhooks/gitlab): parse_push_hook, then environment_of on every
// file the payload names. Commit ids that reach git's argv must be full hex ids, and every
// environment reported must pass the spec validators.

#include "fuzz/fuzz_check.hpp"
#include "server/gitlab.hpp"
#include "spec/spec.hpp"

using namespace softpack;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto push = server::parse_push_hook(fuzz::as_text(data, size));
  if (!push) {
    fuzz::require_refusal(push.error(), ErrorKind::invalid_input);
    return 0;
  }
  for (const auto* id : {&push->before, &push->after}) {
    fuzz::require(id->empty() || server::is_commit_id(*id), "a commit id that is not one");
  }
  for (const auto& commit : push->commits) {
    for (const auto* files : {&commit.added, &commit.modified, &commit.removed}) {
      for (const auto& file : *files) {
        const auto env = server::environment_of(file);
        if (!env) {
          continue;
        }
        fuzz::require(spec::validate_path(env->path, "path").has_value(), "path is invalid");
        fuzz::require(spec::validate_name(env->name, "name").has_value(), "name is invalid");
        fuzz::require(spec::validate_version(env->version, "version").has_value(),
                      "version is invalid");
      }
    }
  }
  return 0;
}
