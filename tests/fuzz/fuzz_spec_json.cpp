// softpack-core's build request (the body of POST /environments/build): parse_build_request_json,
// and the canonical JSON read back from the store (from_json). The same contracts as
// fuzz_spec_yaml: accepted specs validate and round-trip, refusals are printable invalid_input.

#include "fuzz/fuzz_check.hpp"
#include "spec/spec.hpp"

using namespace softpack;

namespace {

void check(const Expected<spec::ValidSpec>& result) {
  if (!result) {
    fuzz::require_refusal(result.error(), ErrorKind::invalid_input);
    fuzz::require(fuzz::is_printable_ascii(result.error().describe()),
                  "error text is not printable ASCII");
    return;
  }
  // ValidSpec's promise: what a parser accepts passes every validator.
  fuzz::require(spec::validate(*result).has_value(), "accepted spec does not validate");
  fuzz::require(result->json() == spec::to_json(*result) &&
                    result->hash() == spec::spec_hash(*result),
                "the spec's cached JSON or hash differ from its own");
  const auto again = spec::from_json(spec::to_json(*result));
  fuzz::require(again && *again == *result, "canonical JSON round trip changed the spec");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  check(spec::parse_build_request_json(text));
  check(spec::from_json(text));
  return 0;
}
