// The site configuration (parse_config), through its pure form: fixed defaults and working
// directory, so that no environment variable, file or current directory is consulted.

#include "config/config.hpp"
#include "fuzz/fuzz_check.hpp"

using namespace softpack;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const config::Config defaults = [] {
    config::Config c;
    c.data_dir = "/fuzz/var";
    c.templates_dir = "/fuzz/templates";
    return c;
  }();
  const auto result =
      config::parse_config(fuzz::as_text(data, size), "site.yaml", defaults, "/fuzz/cwd");
  if (!result) {
    fuzz::require_refusal(result.error(), ErrorKind::config);
    return 0;
  }
  fuzz::require(result->data_dir.is_absolute(), "data_dir is not absolute");
  return 0;
}
