#pragma once

// The service's answers as sp-submit reads them (POST /environments/build, GET /builds/{id}).
// Pure parsers: text from the network in, Expected out; a body of another shape is an error
// that says what was missing, never an exception.

#include "util/error.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace softpack::cli {

// 200 from POST /environments/build: {"id": ..., "existing": bool, ...}.
struct SubmitAnswer {
  std::string id;
  bool existing = false;
};
Expected<SubmitAnswer> parse_submit_answer(std::string_view body);

// 200 from GET /builds/{id}: the parts sp-submit --wait shows.
struct BuildView {
  struct Stage {
    std::string name;
    std::string state;
    std::optional<std::string> job_id; // null until submitted
  };
  std::string state;
  std::string error;
  std::vector<Stage> stages;
  // published, failed or cancelled.
  bool ended() const;
};
Expected<BuildView> parse_build_view(std::string_view body);

} // namespace softpack::cli
