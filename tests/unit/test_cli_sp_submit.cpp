#include "cli/common.hpp"
#include "cli/sp_submit.hpp"
#include "spec/spec.hpp"

#include <catch2/catch.hpp>

using namespace softpack;
using namespace softpack::cli;

TEST_CASE("spec: softpack-core's <name>-<number> directory names", "[spec]") {
  using Split = std::optional<std::pair<std::string, std::string>>;
  CHECK(spec::split_versioned_name("my-env-2") == Split({"my-env", "2"}));
  CHECK(spec::split_versioned_name("env-10") == Split({"env", "10"}));
  CHECK(spec::split_versioned_name("a-1-2") == Split({"a-1", "2"}));
  for (const char* dir : {"my-env", "env", "env-", "-1", "env-1.0", "env-1a", "env-v1", ""}) {
    INFO(dir);
    CHECK_FALSE(spec::split_versioned_name(dir));
  }
}

TEST_CASE("cli: sp-submit takes name and version from core's layout only", "[cli]") {
  SECTION("users/<user>/<name>-<number>/softpack.yml") {
    auto e = infer_environment("/home/alice/artifacts/environments/users/alice/my-env-2/"
                               "softpack.yml");
    REQUIRE(e);
    CHECK(e->name == "users/alice/my-env");
    CHECK(e->version == "2");
    e = infer_environment("/srv/groups/hgi/tools-10/softpack.yml");
    REQUIRE(e);
    CHECK(e->name == "groups/hgi/tools");
    CHECK(e->version == "10");
  }
  SECTION("a directory named my-env is no name and version") {
    auto e = infer_environment("/home/alice/users/alice/my-env/softpack.yml");
    REQUIRE_FALSE(e);
    CHECK(exit_code_for(e.error()) == k_exit_bad_input);
    CHECK_THAT(e.error().message, Catch::Contains("'my-env'") &&
                                      Catch::Contains("<name>-<number>") &&
                                      Catch::Contains("--name") && Catch::Contains("--version"));
  }
  SECTION("a <name>-<number> directory elsewhere has no owner") {
    auto e = infer_environment("/home/alice/envs/my-env-1/softpack.yml");
    REQUIRE_FALSE(e);
    CHECK(exit_code_for(e.error()) == k_exit_bad_input);
    CHECK_THAT(e.error().message,
               Catch::Contains("users/<user>/ or groups/<group>/") && Catch::Contains("--name"));
    CHECK_FALSE(infer_environment("/my-env-1/softpack.yml"));
    CHECK_FALSE(infer_environment("softpack.yml"));
  }
}
