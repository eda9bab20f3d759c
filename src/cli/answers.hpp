#pragma once

// The service's answers as sp-submit and `softpack-builder status` read them (POST
// /environments/build, GET /builds, GET /builds/{id}, and the {"error": ...} of a refusal).
// Pure parsers: text from the network in, Expected out; a body of another shape is an error
// that says what was missing, never an exception.

#include "auth/identity.hpp"
#include "util/error.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace softpack::cli {

// 200 from POST /environments/build: {"id": ..., "existing": bool, "requested_by": {...},
// "queue_reason": "..."}; the last two are absent from older services' answers.
struct SubmitAnswer {
  std::string id;
  bool existing = false;
  auth::Requester requested_by; // who the service took the request to be; none when not said
  std::string queue_reason;     // why the build waits; "" when it does not (or not said)
};
Expected<SubmitAnswer> parse_submit_answer(std::string_view body);

// A build as GET /builds/{id} shows it (GET /builds: the same, without log tails). Only state
// and the stages' names and states are required; what is absent reads as empty.
// "requested_by" is {"kind": "user", "name": "alice", "uid": 1001} or null; a kind this version
// does not know reads as none.
struct BuildView {
  struct Stage {
    std::string name;
    std::string state;
    std::optional<std::string> job_id; // null until submitted
    std::string reason;
    std::optional<int> exit_code;
    std::string started, ended; // RFC 3339, or "" when not yet
    std::string log_tail;       // the last lines of its log (GET /builds/{id} only)
  };
  struct Destination {
    std::string name;
    std::string state; // pending, published or failed
    int attempts = 0;
    std::string error;
    std::string reference;
    std::string next_attempt; // RFC 3339, or ""
  };
  std::string id;
  std::string name; // users/alice/env-1
  std::string state;
  std::string error;
  std::string requested, started, done; // RFC 3339, or ""
  std::string published;                // the published reference
  auth::Requester requested_by;         // none when not known (or an older service)
  std::string queue_reason;             // why a queued build waits; "" otherwise
  std::vector<Stage> stages;
  std::vector<Destination> destinations;
  // published, failed or cancelled.
  bool ended() const;
};
Expected<BuildView> parse_build_view(std::string_view body);
// 200 from GET /builds: a JSON array of builds.
Expected<std::vector<BuildView>> parse_build_list(std::string_view body);

// What a refusal says: the "error" of a {"error": "..."} body, else the body itself (printable,
// shortened).
std::string refusal_reason(std::string_view body);

} // namespace softpack::cli
