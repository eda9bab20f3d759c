// softpack.yml as a user writes it: parse_softpack_yml (and through it the YAML tree in
// util/yaml.cpp). A spec it accepts must validate and survive the canonical JSON round trip;
// a refusal must be invalid_input with printable text (it is echoed to users and logs).

#include "fuzz/fuzz_check.hpp"
#include "spec/spec.hpp"

using namespace softpack;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto result =
      spec::parse_softpack_yml(fuzz::as_text(data, size), "softpack.yml", "users/fuzz", "env", "1");
  if (!result) {
    fuzz::require_refusal(result.error(), ErrorKind::invalid_input);
    fuzz::require(fuzz::is_printable_ascii(result.error().describe()),
                  "error text is not printable ASCII");
    return 0;
  }
  // ValidSpec's promise: what a parser accepts passes every validator.
  fuzz::require(spec::validate(*result).has_value(), "accepted spec does not validate");
  fuzz::require(result->json() == spec::to_json(*result) &&
                    result->hash() == spec::spec_hash(*result),
                "the spec's cached JSON or hash differ from its own");
  const auto again = spec::from_json(spec::to_json(*result));
  fuzz::require(again && *again == *result, "canonical JSON round trip changed the spec");
  return 0;
}
