#pragma once

namespace softpack::cli {

// sp-submit: validate an environment spec and build it.
//   sp-submit SPEC.yml --name users/me/env --version 1 [--wait] [--config FILE]
//   sp-submit REQUEST.json [--wait]           (softpack-core's JSON build request)
//   sp-submit SPEC.yml --name ... --version ... --dry-run DIR
// Exit codes: see cli/common.hpp.
int sp_submit_main(int argc, char** argv);

} // namespace softpack::cli
