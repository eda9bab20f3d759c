// The Authorization header (auth::parse_authorization): what a credential may look like once
// accepted, and that refusals are invalid_input.

#include "auth/authorization_header.hpp"
#include "fuzz/fuzz_check.hpp"

using namespace softpack;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  const auto header = auth::parse_authorization(text);
  if (!header) {
    fuzz::require_refusal(header.error(), ErrorKind::invalid_input);
    fuzz::require(fuzz::is_printable_ascii(header.error().message), "a non-printable refusal");
    return 0;
  }
  const std::string& c = header->credential;
  fuzz::require(!c.empty(), "an empty credential");
  fuzz::require(c.size() <= auth::k_max_credential, "a credential over the limit");
  fuzz::require(fuzz::is_printable_ascii(c), "a non-printable credential");
  fuzz::require(c.find(' ') == std::string::npos, "a space in the credential");
  fuzz::require(text.find(c) != std::string_view::npos, "a credential not in the input");
  if (header->scheme == auth::AuthHeader::Scheme::munge) {
    fuzz::require(c.size() > 7 && c.starts_with("MUNGE:") && c.ends_with(":"),
                  "a MUNGE credential without its armor");
  }
  return 0;
}
