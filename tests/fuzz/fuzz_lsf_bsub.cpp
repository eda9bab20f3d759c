// bsub's stdout (parse_bsub), and bkill's messages (only_already_gone).

#include "fuzz/fuzz_check.hpp"
#include "scheduler/lsf/lsf_parse.hpp"

using namespace softpack;
using namespace softpack::scheduler;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  if (const auto id = lsf::parse_bsub(text); id) {
    fuzz::require(!id->value.empty(), "an empty job id");
  }
  (void)lsf::only_already_gone(text);
  return 0;
}
