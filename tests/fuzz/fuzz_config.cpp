// The site configuration (parse_config), through its pure form: fixed defaults and working
// directory, so that no environment variable, file or current directory is consulted, and the
// backends table's schema, so that every backend's section reader is fuzzed too.

#include "backends/backends.hpp"
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
  static const config::Schema schema = backends::builtin().schema();
  const auto result =
      config::parse_config(fuzz::as_text(data, size), "site.yaml", schema, defaults, "/fuzz/cwd");
  if (!result) {
    fuzz::require_refusal(result.error(), ErrorKind::config);
    return 0;
  }
  fuzz::require(result->data_dir.is_absolute(), "data_dir is not absolute");
  fuzz::require(!result->scheduler.backend.empty(), "no scheduler backend");
  fuzz::require(!result->publish.destinations.empty(), "no publish destination");
  return 0;
}
