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

TEST_CASE("cli: check_site reports what serve would refuse, every error with key and line",
          "[cli]") {
  testing::TempDir t;
  ScopedEnv no_api("SOFTPACK_API_TOKEN", "");
  ScopedEnv no_gitlab("SOFTPACK_GITLAB_TOKEN", "");
  const std::string head = "data_dir: " + (t / "var").string() + "\n";
  SECTION("a missing token file, an empty one and a host name for the address") {
    t.write("empty-token", "\n  \n");
    const auto file =
        t.write("site.yaml", head + "server:\n  address: localhost\n  api_token_file: " +
                                 (t / "no-such-token").string() +
                                 "\n  gitlab_token_file: " + (t / "empty-token").string() + "\n");
    const auto site = check_site(file.string());
    REQUIRE(site.errors.size() == 3);
    for (const auto& e : site.errors) {
      CHECK(e.kind == ErrorKind::config);
    }
    CHECK(site.errors[0].context == file.string() + ":3");
    CHECK_THAT(site.errors[0].message, Catch::StartsWith("server.address: 'localhost' is not an "
                                                         "IP address"));
    CHECK(site.errors[1].context == file.string() + ":4");
    CHECK_THAT(site.errors[1].message, Catch::StartsWith("server.api_token_file: ") &&
                                           Catch::Contains("no-such-token") &&
                                           Catch::Contains("$SOFTPACK_API_TOKEN"));
    CHECK(site.errors[2].context == file.string() + ":5");
    CHECK_THAT(site.errors[2].message, Catch::StartsWith("server.gitlab_token_file: ") &&
                                           Catch::Contains("the secret file is empty"));
  }
  SECTION("the files the artifacts repository is reached with") {
    t.write("empty-key", "");
    const auto file = t.write(
        "site.yaml", head + "artifacts:\n  credentials_file: " + (t / "no-such-file").string() +
                         "\n  ssh_key_file: " + (t / "empty-key").string() + "\n");
    const auto site = check_site(file.string());
    REQUIRE(site.errors.size() == 2);
    CHECK(site.errors[0].context == file.string() + ":3");
    CHECK_THAT(site.errors[0].message, Catch::StartsWith("artifacts.credentials_file: ") &&
                                           Catch::Contains("no-such-file"));
    CHECK(site.errors[1].context == file.string() + ":4");
    CHECK_THAT(site.errors[1].message,
               Catch::StartsWith("artifacts.ssh_key_file: ") && Catch::Contains("is empty"));
  }
  SECTION("a token from the environment needs no file") {
    ScopedEnv api("SOFTPACK_API_TOKEN", "from-env");
    const auto file = t.write(
        "site.yaml", head + "server:\n  api_token_file: " + (t / "no-such-token").string() + "\n");
    const auto site = check_site(file.string());
    CHECK(site.errors.empty());
    CHECK(site.secrets.api_token == "from-env");
  }
  SECTION("tokens are read as serve reads them: the first line, trimmed") {
    t.write("token", "  s3cret \nsecond line\n");
    const auto file = t.write(
        "site.yaml",
        head + "server:\n  address: \"::1\"\n  api_token_file: " + (t / "token").string() + "\n");
    const auto site = check_site(file.string());
    CHECK(site.errors.empty());
    CHECK(site.secrets.api_token == "s3cret");
    CHECK(site.secrets.gitlab_token.empty());
  }
  SECTION("errors in the file come with the checks of what it names") {
    const auto file =
        t.write("site.yaml", head + "scheduler:\n  poll_interval: soon\nserver:\n  port: x\n"
                                    "  address: my-host\nbogus: 1\n");
    const auto site = check_site(file.string());
    REQUIRE(site.errors.size() == 4);
    CHECK(site.errors[0].context == file.string() + ":3");
    CHECK(site.errors[1].context == file.string() + ":5");
    CHECK(site.errors[2].context == file.string() + ":7");
    CHECK_THAT(site.errors[2].message, Catch::Contains("unknown key 'bogus'"));
    CHECK(site.errors[3].context == file.string() + ":6");
    CHECK_THAT(site.errors[3].message, Catch::Contains("'my-host' is not an IP address"));
  }
  SECTION("the backends are made as serve makes them") {
    ScopedEnv creds("SOFTPACK_REGISTRY_CREDENTIALS", "no-colon-here");
    const auto file = t.write("site.yaml", head + "registry:\n  url: http://127.0.0.1:1/ns\n"
                                                  "publish:\n  destinations: [git, registry]\n");
    const auto site = check_site(file.string());
    REQUIRE(site.errors.size() == 1);
    CHECK_THAT(site.errors[0].describe(), Catch::Contains("$SOFTPACK_REGISTRY_CREDENTIALS"));
  }
  SECTION("with identity on, core_clients may not cover this host's addresses") {
    const auto file = t.write("site.yaml", head + "server:\n  munge: true\n");
    const auto site = check_site(file.string());
    REQUIRE(site.errors.size() == 1);
    CHECK_THAT(site.errors[0].message, Catch::StartsWith("server.core_clients: 127.0.0.0/8 covers "
                                                         "127.0.0.1") &&
                                           Catch::Contains("core_clients_trust_local"));
    const auto trusted = t.write(
        "trusted.yaml", head + "server:\n  munge: true\n  core_clients_trust_local: true\n");
    CHECK(check_site(trusted.string()).errors.empty());
    const auto elsewhere =
        t.write("elsewhere.yaml", head + "server:\n  socket: " + (t / "api.sock").string() +
                                      "\n  core_clients: [192.0.2.7]\n");
    CHECK(check_site(elsewhere.string()).errors.empty());
  }
  SECTION("the socket's directory must exist") {
    const auto file =
        t.write("site.yaml", head + "server:\n  socket: " + (t / "no-dir" / "api.sock").string() +
                                 "\n  core_clients: []\n");
    const auto site = check_site(file.string());
    REQUIRE(site.errors.size() == 1);
    CHECK_THAT(site.errors[0].message,
               Catch::StartsWith("server.socket: its directory") && Catch::Contains("no-dir"));
  }
  SECTION("named tokens are read as serve reads them") {
    t.write("ci.token", "ci-secret\n");
    const auto file =
        t.write("site.yaml",
                head + "server:\n  tokens:\n    - {name: ci, file: " + (t / "ci.token").string() +
                    ", routes: [build]}\n    - {name: gone, file: " + (t / "gone.token").string() +
                    ", routes: [read]}\n");
    const auto site = check_site(file.string());
    REQUIRE(site.errors.size() == 1);
    CHECK_THAT(site.errors[0].message,
               Catch::StartsWith("server.tokens: token gone: ") && Catch::Contains("gone.token"));
    REQUIRE(site.secrets.tokens.size() == 1);
    CHECK(site.secrets.tokens[0].name == "ci");
    CHECK(site.secrets.tokens[0].secret == "ci-secret");
    CHECK(site.secrets.tokens[0].routes == std::vector<std::string>{"build"});
  }
  SECTION("a YAML syntax error stops there") {
    const auto file = t.write("site.yaml", head + "server: [\n");
    const auto site = check_site(file.string());
    REQUIRE(site.errors.size() == 1);
    CHECK(site.errors[0].context == file.string() + ":2");
  }
}

TEST_CASE("cli: the token a client sends", "[cli]") {
  testing::TempDir t;
  ScopedEnv no_api("SOFTPACK_API_TOKEN", "");
  config::Config c;
  c.server.api_token_file = t.write("server-token", "server\n").string();
  SECTION("--token-file wins") {
    ScopedEnv api("SOFTPACK_API_TOKEN", "from-env");
    const auto file = t.write("mine", "mine\n");
    CHECK(client_token(file.string(), c).value() == "mine");
  }
  SECTION("then the variable, then the service's file") {
    CHECK(client_token(std::nullopt, c).value() == "server");
    ScopedEnv api("SOFTPACK_API_TOKEN", "from-env");
    CHECK(client_token(std::nullopt, c).value() == "from-env");
  }
  SECTION("a service file this user cannot read means no token") {
    c.server.api_token_file = (t / "missing").string();
    CHECK(client_token(std::nullopt, c).value().empty());
  }
  SECTION("a --token-file that cannot be read, or is empty, is bad input naming it") {
    for (const auto& file : {(t / "missing").string(), t.write("empty", "\n").string()}) {
      auto token = client_token(file, c);
      REQUIRE_FALSE(token);
      CHECK(exit_code_for(token.error()) == k_exit_bad_input);
      CHECK_THAT(token.error().describe(),
                 Catch::StartsWith("--token-file") && Catch::Contains(file));
    }
  }
}

TEST_CASE("cli: the service's URL from the configuration", "[cli]") {
  config::Config c;
  CHECK(service_url(c) == "http://127.0.0.1:7080");
  c.server.port = 8000;
  c.server.address = "0.0.0.0";
  CHECK(service_url(c) == "http://127.0.0.1:8000");
  c.server.address = "::";
  CHECK(service_url(c) == "http://[::1]:8000");
  c.server.address = "fd00::2";
  CHECK(service_url(c) == "http://[fd00::2]:8000");
}

TEST_CASE("cli: an option's value may not be another option", "[cli]") {
  CHECK(option_value_error("/tmp/dir").empty());
  CHECK(option_value_error("-").empty()); // stdin
  CHECK(option_value_error("users/alice/env").empty());
  CHECK(option_value_error("--config") == "expects a value, found the option '--config'");
  CHECK_FALSE(option_value_error("-v").empty());
}
