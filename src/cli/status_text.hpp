#pragma once

// What `softpack-builder status` prints: the builds as a table, one build as a block. Pure:
// BuildView values (cli/answers) in, text out. Times are shown in UTC as the service gives them
// ("2026-12-04 16:02:03"); text from the service that could drive a terminal (control
// characters, escapes) is shown as '?'.

#include "cli/answers.hpp"

#include <string>
#include <vector>

namespace softpack::cli {

// One line per build under a header: ID, ENVIRONMENT, STATE, REQUESTED (UTC), BY (who asked,
// "-" when not known), STAGES (stages_summary(), or for a queued build why it waits); columns
// aligned. "no builds" when there are none.
std::string builds_table(const std::vector<BuildView>& builds);

// The stages in a few words: the stage that failed ("build failed (exit 1)"), else the one under
// way with how many are done ("build running (1/3 done)"), else "3/3 done"; then a destination
// that failed or is being retried ("; git retrying (2 attempts)"). "-" before any stage exists.
std::string stages_summary(const BuildView& build);

// Who asked, for people: "alice (uid 1001)", "token ci"; "-" when not known.
std::string requester_text(const auth::Requester& who);

// One build: id, environment, who asked, state and error (and why a queued build waits), times,
// published reference, then a line per
// stage (job id, state, exit code, times, reason), a line per destination (state, attempts,
// reference, error, next attempt) and the log tail of each stage that failed.
std::string build_details(const BuildView& build);

} // namespace softpack::cli
