// sacct's output (parse_sacct), including its code:signal exit codes and local times.

#include "fuzz/fuzz_check.hpp"
#include "scheduler/slurm/slurm_parse.hpp"

using namespace softpack;
using namespace softpack::scheduler;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const TimeZone zone = TimeZone::fixed(std::chrono::hours(1));
  if (const auto jobs = slurm::parse_sacct(fuzz::as_text(data, size), zone); jobs) {
    for (const auto& job : *jobs) {
      fuzz::require(!job.id.value.empty(), "a job without an id");
    }
  }
  return 0;
}
