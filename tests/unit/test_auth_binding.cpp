#include "auth/binding.hpp"

#include <catch2/catch.hpp>

using softpack::auth::request_binding;

// The vectors were made with the shell recipe in auth/binding.hpp (what scripts and the
// integration test use):
//   hash=$(printf %s "$body" | sha256sum | cut -d' ' -f1)
//   printf 'softpack-builder-v1\n%s\n%s\n%s\n' POST /environments/build "$hash"
TEST_CASE("auth binding: the known vector of the shell recipe", "[auth]") {
  CHECK(request_binding("POST", "/environments/build", R"({"a":1})") ==
        "softpack-builder-v1\n"
        "POST\n"
        "/environments/build\n"
        "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862\n");
  CHECK(request_binding("DELETE", "/builds/abc", "") ==
        "softpack-builder-v1\n"
        "DELETE\n"
        "/builds/abc\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n");
}

TEST_CASE("auth binding: method, target and body each change it", "[auth]") {
  const auto base = request_binding("POST", "/environments/build", "{}");
  CHECK(request_binding("PUT", "/environments/build", "{}") != base);
  CHECK(request_binding("POST", "/environments/build?x=1", "{}") != base);
  CHECK(request_binding("POST", "/environments/build", "{} ") != base);
  CHECK(request_binding("POST", "/environments/build", "{}") == base);
}
