// sbatch --parsable's stdout (parse_sbatch), and the stderr classifiers the adapter uses to
// decide whether to retry.

#include "fuzz/fuzz_check.hpp"
#include "scheduler/slurm/slurm_parse.hpp"

using namespace softpack;
using namespace softpack::scheduler;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  if (const auto id = slurm::parse_sbatch(text); id) {
    fuzz::require(!id->value.empty(), "an empty job id");
  }
  (void)slurm::is_transient_error(text);
  (void)slurm::is_invalid_job_id(text);
  return 0;
}
