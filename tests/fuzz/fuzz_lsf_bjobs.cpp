// bjobs' delimited output, as parsed for polling (parse_bjobs) and for finding a submitted job
// by name (parse_bjobs_named), and the stderr classifiers used with it.

#include "fuzz/fuzz_check.hpp"
#include "scheduler/lsf/lsf_parse.hpp"

using namespace softpack;
using namespace softpack::scheduler;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  if (const auto jobs = lsf::parse_bjobs(text); jobs) {
    for (const auto& job : *jobs) {
      fuzz::require(!job.id.value.empty(), "a job without an id");
    }
  }
  if (const auto named = lsf::parse_bjobs_named(text); named) {
    for (const auto& job : *named) {
      fuzz::require(!job.id.value.empty(), "a named job without an id");
    }
  }
  (void)lsf::not_found_ids(text);
  (void)lsf::only_unknown_ids(text);
  (void)lsf::is_transient_error(text);
  (void)lsf::is_json_unsupported(text);
  return 0;
}
