// bjobs -json's output (parse_bjobs_json).

#include "fuzz/fuzz_check.hpp"
#include "scheduler/lsf/lsf_parse.hpp"

using namespace softpack;
using namespace softpack::scheduler;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (const auto jobs = lsf::parse_bjobs_json(fuzz::as_text(data, size)); jobs) {
    for (const auto& job : *jobs) {
      fuzz::require(!job.id.value.empty(), "a job without an id");
    }
  }
  return 0;
}
