// GitLab's Push Hook body (POST /webhooks/gitlab): parse_push_hook, then the environments the
// push changes. Every environment reported must pass the spec validators.

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
  for (const auto& env : server::changed_environments(*push)) {
    fuzz::require(spec::validate_path(env.path, "path").has_value(), "changed path is invalid");
    fuzz::require(spec::validate_name(env.name, "name").has_value(), "changed name is invalid");
    fuzz::require(spec::validate_version(env.version, "version").has_value(),
                  "changed version is invalid");
  }
  return 0;
}
