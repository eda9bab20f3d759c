// squeue's output, as parsed for polling (parse_squeue) and for finding a submitted job by name
// (parse_squeue_named). Output of the wrong shape must be an error, never a crash.

#include "fuzz/fuzz_check.hpp"
#include "scheduler/slurm/slurm_parse.hpp"

using namespace softpack;
using namespace softpack::scheduler;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  if (const auto jobs = slurm::parse_squeue(text); jobs) {
    for (const auto& job : *jobs) {
      fuzz::require(!job.id.value.empty(), "a job without an id");
    }
  }
  if (const auto named = slurm::parse_squeue_named(text); named) {
    for (const auto& job : *named) {
      fuzz::require(!job.id.value.empty(), "a named job without an id");
    }
  }
  return 0;
}
