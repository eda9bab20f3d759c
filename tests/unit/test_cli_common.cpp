#include "cli/common.hpp"
#include "cli/wiring.hpp"
#include "support/temp_dir.hpp"

#include <cstdlib>

#include <catch2/catch.hpp>

using namespace softpack;
using namespace softpack::cli;

namespace {

// Sets an environment variable for one scope.
class ScopedEnv {
public:
  ScopedEnv(const char* name, const std::string& value) : m_name(name) {
    if (const char* old = std::getenv(name)) {
      m_old = old;
    }
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (m_old) {
      ::setenv(m_name, m_old->c_str(), 1);
    } else {
      ::unsetenv(m_name);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
  const char* m_name;
  std::optional<std::string> m_old;
};

} // namespace

TEST_CASE("cli: exit codes by kind of error", "[cli]") {
  CHECK(exit_code_for(make_error(ErrorKind::invalid_input, "x")) == k_exit_bad_input);
  CHECK(exit_code_for(make_error(ErrorKind::config, "x")) == k_exit_config);
  CHECK(exit_code_for(make_error(ErrorKind::conflict, "x")) == k_exit_bad_input);
  for (auto kind : {ErrorKind::io, ErrorKind::command, ErrorKind::transient, ErrorKind::scheduler,
                    ErrorKind::not_found, ErrorKind::internal}) {
    CHECK(exit_code_for(make_error(kind, "x")) == k_exit_internal);
  }
}

TEST_CASE("cli: finding the site configuration", "[cli]") {
  testing::TempDir t;
  const auto file = t.write("site.yaml", "data_dir: " + (t / "var").string() +
                                             "\nscheduler:\n  backend: slurm\n");
  SECTION("--config wins over the environment") {
    const auto other = t.write("other.yaml", "scheduler:\n  backend: lsf\n");
    ScopedEnv env("SOFTPACK_BUILDER_CONFIG", other.string());
    auto c = load_site_config(file.string());
    REQUIRE(c);
    CHECK(c->scheduler.backend == "slurm");
    CHECK(c->data_dir == t / "var");
    auto from_env = load_site_config(std::nullopt);
    REQUIRE(from_env);
    CHECK(from_env->scheduler.backend == "lsf");
  }
  SECTION("errors are configuration errors naming the file") {
    auto c = load_site_config((t / "missing.yaml").string());
    REQUIRE_FALSE(c);
    CHECK(exit_code_for(c.error()) == k_exit_config);
    CHECK_THAT(c.error().describe(), Catch::Contains("missing.yaml"));
    const auto bad = t.write("bad.yaml", "scheduler:\n  backend: pbs\n");
    c = load_site_config(bad.string());
    REQUIRE_FALSE(c);
    CHECK(c.error().context == bad.string() + ":2");
  }
}

TEST_CASE("cli: the composition root makes what the configuration selects", "[cli]") {
  testing::TempDir t;
  const auto file = t.write("site.yaml", "data_dir: " + (t / "var").string() +
                                             "\nregistry:\n  url: http://127.0.0.1:1/ns\n"
                                             "publish:\n  destinations: [git, registry]\n");
  auto c = load_site_config(file.string());
  REQUIRE(c);
  SECTION("the scheduler and the destinations, in publishing order") {
    ScopedEnv creds("SOFTPACK_REGISTRY_CREDENTIALS", "alice:secret");
    auto w = wire(*c);
    REQUIRE(w);
    CHECK((*w)->backends.scheduler->name() == "local");
    const auto p = (*w)->backends.publishers();
    REQUIRE(p.size() == 2);
    CHECK(p[0]->name() == "registry");
    CHECK(p[1]->name() == "git");
  }
  SECTION("credentials that cannot be read stop it, naming where, not the secret") {
    ScopedEnv creds("SOFTPACK_REGISTRY_CREDENTIALS", "no-colon-here");
    auto w = wire(*c);
    REQUIRE_FALSE(w);
    CHECK(exit_code_for(w.error()) == k_exit_config);
    CHECK_THAT(w.error().describe(), Catch::Contains("$SOFTPACK_REGISTRY_CREDENTIALS") &&
                                         !Catch::Contains("no-colon-here"));
  }
}
