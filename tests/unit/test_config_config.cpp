#include "artifacts/core/core_upload.hpp"
#include "artifacts/registry/oci_registry.hpp"
#include "backends/backends.hpp"
#include "config/config.hpp"
#include "scheduler/lsf/lsf_scheduler.hpp"
#include "util/fs.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include <catch2/catch.hpp>

using namespace softpack;
using namespace std::chrono_literals;

namespace {
// A backend's settings, as its row's reader made them.
template <typename T> T settings(const config::Config& c, std::string_view backend) {
  const std::any* s = config::backend_settings(c, backend);
  REQUIRE(s);
  const T* t = std::any_cast<T>(s);
  REQUIRE(t);
  return *t;
}

config::Config parse_ok(const std::string& text) {
  auto c = backends::parse_config(text, "site.yaml");
  INFO(text);
  if (!c) {
    FAIL(c.error().describe());
  }
  return *c;
}

Error parse_error(const std::string& text) {
  auto c = backends::parse_config(text, "site.yaml");
  INFO(text);
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().kind == ErrorKind::config);
  return c.error();
}
} // namespace

TEST_CASE("config: the shipped config/softpack-builder.yaml parses to the defaults", "[config]") {
  auto c =
      backends::load_config(std::string(SOFTPACK_SOURCE_DIR) + "/config/softpack-builder.yaml");
  REQUIRE(c.has_value());
  const auto d = parse_ok("");
  CHECK(c->scheduler.backend == d.scheduler.backend);
  CHECK(c->scheduler.poll_interval == d.scheduler.poll_interval);
  CHECK(c->scheduler.min_poll_interval == d.scheduler.min_poll_interval);
  CHECK(c->scheduler.lost_grace == d.scheduler.lost_grace);
  CHECK(c->scheduler.local_max_running == d.scheduler.local_max_running);
  CHECK(c->scheduler.defaults.cpus == d.scheduler.defaults.cpus);
  CHECK(c->scheduler.defaults.time_limit == d.scheduler.defaults.time_limit);
  CHECK(c->spack.command == d.spack.command);
  CHECK(c->spack.build_image == d.spack.build_image);
  CHECK(c->spack.final_image == d.spack.final_image);
  CHECK(c->spack.binary_caches.empty());
  CHECK(c->spack.unsigned_caches == d.spack.unsigned_caches);
  CHECK(c->spack.padded_length == d.spack.padded_length);
  CHECK(c->container.build_command == d.container.build_command);
  CHECK(c->container.exec_command == d.container.exec_command);
  CHECK(c->jobs.path == d.jobs.path);
  CHECK(c->artifacts.branch == d.artifacts.branch);
  CHECK(c->artifacts.author_name == d.artifacts.author_name);
  CHECK(c->artifacts_repo() == (c->data_dir / "artifacts.git").string());
  CHECK(c->publish.destinations == d.publish.destinations);
  CHECK(c->publish.retry_initial == d.publish.retry_initial);
  CHECK(c->publish.retry_max == d.publish.retry_max);
  CHECK(c->publish.give_up_after == d.publish.give_up_after);
  CHECK(settings<artifacts::RegistryOptions>(*c, "registry").timeout ==
        settings<artifacts::RegistryOptions>(d, "registry").timeout);
  CHECK(settings<artifacts::CoreOptions>(*c, "core").timeout ==
        settings<artifacts::CoreOptions>(d, "core").timeout);
  CHECK(c->module_dir() == (c->data_dir / "installs" / "modules").string());
}

TEST_CASE("config: spack.view and spack.install_tree are refused with the reason", "[config]") {
  for (const char* key : {"view", "install_tree"}) {
    INFO(key);
    const auto e = parse_error(std::string("spack:\n  ") + key + ": /opt/x\n");
    CHECK(e.context == "site.yaml:2");
    CHECK_THAT(e.message, Catch::Contains(std::string("spack.") + key) &&
                              Catch::Contains("/opt/views/view") && Catch::Contains("remove it"));
  }
}

TEST_CASE("config: the image recipe's settings", "[config]") {
  const auto c = parse_ok(R"(spack:
  build_image: registry.example.org/spack@sha256:0123abcd
  final_image: ubuntu:22.04
  binary_caches:
  - file:///srv/spack-cache
  - {url: "oci://registry.example.org/spack-cache", push: false}
  - {url: "https://cache.spack.io", push: false}
  unsigned: true
  padded_length: 255
  repo: https://github.com/org/spack-repo.git
  repo_ref: v2
)");
  CHECK(c.spack.build_image == "registry.example.org/spack@sha256:0123abcd");
  REQUIRE(c.spack.binary_caches.size() == 3);
  CHECK(c.spack.binary_caches[0].url == "file:///srv/spack-cache");
  CHECK(c.spack.binary_caches[0].push);
  CHECK(c.spack.binary_caches[1].url == "oci://registry.example.org/spack-cache");
  CHECK_FALSE(c.spack.binary_caches[1].push);
  CHECK(c.spack.unsigned_caches);
  CHECK(c.spack.padded_length == 255);
  CHECK(config::is_git_url(c.spack.repo));
  CHECK(c.spack.repo_ref == "v2");
  CHECK(config::is_git_url("git@gitlab.example.org:hgi/repo.git"));
  CHECK_FALSE(config::is_git_url("/opt/repo"));
  CHECK(parse_ok("").spack.padded_length == 128);
  CHECK_FALSE(parse_ok("").spack.unsigned_caches);

  SECTION("a cache that is not a cache URL, at its line") {
    const auto e = parse_error("spack:\n  binary_caches:\n  - /srv/cache\n");
    CHECK(e.context == "site.yaml:3");
    CHECK_THAT(e.message, Catch::Contains("spack.binary_caches[0]") &&
                              Catch::Contains("file://, s3://, oci://"));
  }
  SECTION("an https cache to push to") {
    const auto e = parse_error("spack:\n  binary_caches: [https://cache.example.org]\n");
    CHECK_THAT(e.message, Catch::Contains("push: false"));
  }
  SECTION("a password in a cache URL") {
    const auto e = parse_error("spack:\n  binary_caches: [\"oci://u:pw@reg.example.org/c\"]\n");
    CHECK_THAT(e.message, Catch::Contains("password"));
  }
  SECTION("an unknown key in a cache") {
    const auto e = parse_error("spack:\n  binary_caches:\n  - {url: file:///c, pushh: true}\n");
    CHECK_THAT(e.message, Catch::Contains("pushh"));
  }
  SECTION("a relative repo directory") {
    const auto e = parse_error("spack:\n  repo: my-repo\n");
    CHECK_THAT(e.message, Catch::Contains("spack.repo") && Catch::Contains("absolute"));
  }
  SECTION("repo_ref without a git repo") {
    const auto e = parse_error("spack:\n  repo: /opt/repo\n  repo_ref: main\n");
    CHECK_THAT(e.message, Catch::Contains("spack.repo_ref") && Catch::Contains("git URL"));
  }
  SECTION("container_os, from before the recipe, says what replaces it") {
    const auto e = parse_error("spack:\n  container_os: ubuntu:22.04\n");
    CHECK_THAT(e.message,
               Catch::Contains("spack.container_os") && Catch::Contains("spack.build_image"));
  }
}

TEST_CASE("config: server.core_clients", "[config]") {
  CHECK(parse_ok("").server.core_clients.size() == 2); // loopback, IPv4 and IPv6
  const auto c = parse_ok("server:\n  core_clients: [10.0.0.0/8, fd00::/8, 192.168.1.7]\n");
  REQUIRE(c.server.core_clients.size() == 3);
  CHECK(c.server.core_clients[2].text == "192.168.1.7");
  CHECK(parse_ok("server:\n  core_clients: []\n").server.core_clients.empty());
  auto e = parse_error("server:\n  port: 80\n  core_clients: [10.0.0.0/8, core.example.org]\n");
  CHECK(e.context == "site.yaml:3");
  CHECK_THAT(e.message, Catch::Contains("server.core_clients") &&
                            Catch::Contains("'core.example.org' is not an IP address"));
}

TEST_CASE("config: server identity settings", "[config]") {
  const auto d = parse_ok("");
  CHECK_FALSE(d.server.identity_on());
  CHECK(d.server.socket_mode == 0666);
  CHECK(d.server.munge_ttl == std::chrono::seconds(60));
  CHECK(d.server.max_builds_per_user == 0);
  CHECK(d.server.user_rate_limit.requests == 30);
  const auto c = parse_ok(R"(server:
  socket: /run/softpack-builder/api.sock
  socket_mode: "0660"
  munge: true
  munge_socket: /run/munge/munge.socket.2
  munge_ttl: 2m
  core_clients: []
  core_clients_trust_local: true
  tokens:
    - {name: ci, file: /etc/softpack-builder/ci.token, routes: [build, read]}
    - name: ops
      file: /etc/softpack-builder/ops.token
      routes: all
  admins:
    users: [root]
    groups: [softpack-admins, hgi-admins]
  max_builds_per_user: 2
  user_rate_limit: 10/30s
)");
  CHECK(c.server.identity_on());
  CHECK(c.server.socket == "/run/softpack-builder/api.sock");
  CHECK(c.server.socket_mode == 0660);
  CHECK(c.server.munge);
  CHECK(c.server.munge_ttl == std::chrono::seconds(120));
  CHECK(c.server.core_clients_trust_local);
  REQUIRE(c.server.tokens.size() == 2);
  CHECK(c.server.tokens[0].name == "ci");
  CHECK(c.server.tokens[0].routes == std::vector<std::string>{"build", "read"});
  CHECK(c.server.tokens[1].routes == std::vector<std::string>{"all"});
  CHECK(c.server.admin_users == std::vector<std::string>{"root"});
  CHECK(c.server.admin_groups.size() == 2);
  CHECK(c.server.max_builds_per_user == 2);
  CHECK(c.server.user_rate_limit.requests == 10);
  CHECK(c.server.user_rate_limit.per == std::chrono::seconds(30));
  CHECK(parse_ok("server:\n  user_rate_limit: \"\"\n").server.user_rate_limit.requests == 0);
  CHECK(parse_ok("server:\n  munge: true\n").server.identity_on());

  for (const auto& [yaml, what] : std::vector<std::pair<std::string, std::string>>{
           {"server:\n  socket: run/api.sock\n", "server.socket: expected an absolute path"},
           {"server:\n  socket_mode: 0999\n", "server.socket_mode: expected an octal mode"},
           {"server:\n  munge_ttl: 2h\n", "server.munge_ttl: must be 1s to 1h"},
           {"server:\n  user_rate_limit: lots\n", "server.user_rate_limit: expected requests per"},
           {"server:\n  user_rate_limit: 10/0s\n", "server.user_rate_limit: expected requests"},
           {"server:\n  tokens: {name: x}\n", "server.tokens: expected a list"},
           {"server:\n  tokens: [{name: 'a b', file: /f, routes: [read]}]\n",
            "server.tokens[0]: name: expected letters"},
           {"server:\n  tokens: [{name: api, file: /f, routes: [read]}]\n", "'api' is used twice"},
           {"server:\n  tokens: [{name: x, file: /f, routes: [read]}, {name: x, file: /g, "
            "routes: [read]}]\n",
            "server.tokens[1]: name: 'x' is used twice"},
           {"server:\n  tokens: [{name: x, routes: [read]}]\n", "file: the file holding"},
           {"server:\n  tokens: [{name: x, file: /f, routes: [delete]}]\n",
            "unknown route 'delete'"},
           {"server:\n  tokens: [{name: x, file: /f, routes: [read], color: red}]\n",
            "unknown key 'server.tokens[0].color'"},
           {"server:\n  admins: [root]\n", "server.admins"},
           {"server:\n  max_builds_per_user: -1\n", "server.max_builds_per_user"},
       }) {
    INFO(yaml);
    CHECK_THAT(parse_error(yaml).message, Catch::Contains(what));
  }
}

TEST_CASE("config: publish destinations and their settings", "[config][publish]") {
  auto c = parse_ok(R"(
module:
  module_dir: /software/modules
  scripts_dir: /software/scripts
artifacts:
  repo: https://gitlab.example.org/hgi/artifacts.git
  credentials_file: /etc/softpack-builder/git-credentials
  ssh_key_file: /etc/softpack-builder/id_ed25519
registry:
  url: https://registry.example.org/softpack
  credentials_file: /etc/softpack-builder/registry
  ca_file: /etc/ssl/site-ca.pem
  timeout: 10m
core:
  url: http://softpack-core:8000
  timeout: 30s
publish:
  destinations: [core, registry, install]
  retry_initial: 1m
  retry_max: 1h
  give_up_after: 2d
)");
  // Always published in the fixed order.
  CHECK(c.publish.destinations == std::vector<std::string>{"install", "registry", "core"});
  CHECK(c.publishes_to("core"));
  CHECK(c.publish.retry_initial == 1min);
  CHECK(c.publish.retry_max == 1h);
  CHECK(c.publish.give_up_after == 48h);
  CHECK(c.module_dir() == "/software/modules");
  CHECK(c.artifacts.credentials_file == "/etc/softpack-builder/git-credentials");
  CHECK(c.artifacts.ssh_key_file == "/etc/softpack-builder/id_ed25519");
  const auto registry = settings<artifacts::RegistryOptions>(c, "registry");
  CHECK(registry.url == "https://registry.example.org/softpack");
  CHECK(registry.credentials_file == "/etc/softpack-builder/registry");
  CHECK(registry.ca_file == "/etc/ssl/site-ca.pem");
  CHECK(registry.timeout == 10min);
  const auto core = settings<artifacts::CoreOptions>(c, "core");
  CHECK(core.url == "http://softpack-core:8000");
  CHECK(core.timeout == 30s);

  SECTION("none given: core when core.url is set, else git; install and registry when set") {
    auto d = [](const std::string& yaml) { return parse_ok(yaml).publish.destinations; };
    using V = std::vector<std::string>;
    CHECK(d("") == V{"git"});
    CHECK(d("core:\n  url: http://core:8000\n") == V{"core"});
    CHECK(d("core:\n  timeout: 1m\n") == V{"git"}); // a core section without a URL
    CHECK(d("core:\n  url: http://core:8000\nregistry:\n  url: http://r:5000/ns\n"
            "module:\n  module_dir: /software/modules\n") == V{"install", "registry", "core"});
    CHECK(d("registry:\n  url: http://r:5000/ns\n") == V{"registry", "git"});
    CHECK(d("module:\n  scripts_dir: /software/scripts\n") == V{"git"});
  }

  SECTION("errors name the key and the line") {
    auto e = parse_error("publish:\n  destinations: [git, s3]\n");
    CHECK(e.context == "site.yaml:2");
    CHECK_THAT(e.message, Catch::Contains("publish.destinations") && Catch::Contains("'s3'"));
    e = parse_error("publish:\n  destinations: [git, git]\n");
    CHECK_THAT(e.message, Catch::Contains("listed twice"));
    e = parse_error("publish:\n  destinations: []\n");
    CHECK_THAT(e.message, Catch::Contains("must not be empty"));
    e = parse_error("publish:\n  destinations: [registry]\n");
    CHECK_THAT(e.message, Catch::Contains("needs registry.url"));
    e = parse_error("publish:\n  destinations: [core]\n");
    CHECK_THAT(e.message, Catch::Contains("needs core.url"));
    // softpack-core writes its repository itself; a second writer breaks its pushes.
    e = parse_error("core:\n  url: http://core:8000\npublish:\n  destinations: [git, core]\n");
    CHECK(e.context == "site.yaml:4");
    CHECK_THAT(e.message, Catch::Contains("'git' and 'core' may not be used together") &&
                              Catch::Contains("pushes"));
    e = parse_error("publish:\n  retry_initial: 0s\n");
    CHECK_THAT(e.message, Catch::Contains("publish.retry_initial"));
    e = parse_error("publish:\n  retry_initial: 1h\n  retry_max: 1m\n");
    CHECK_THAT(e.message, Catch::Contains("at most publish.retry_max"));
  }
  SECTION("URLs") {
    auto e = parse_error("registry:\n  url: ftp://registry.example.org\n");
    CHECK(e.context == "site.yaml:2");
    CHECK_THAT(e.message, Catch::Contains("registry.url") && Catch::Contains("http"));
    e = parse_error("registry:\n  url: https://user:secret@registry.example.org\n");
    CHECK_THAT(e.message, Catch::Contains("credentials"));
    CHECK_THAT(e.message, !Catch::Contains("secret@"));
    e = parse_error("core:\n  url: http://core:8000/?x=1\n");
    CHECK_THAT(e.message, Catch::Contains("core.url"));
    e = parse_error("core:\n  url: not a url\n");
    CHECK_THAT(e.message, Catch::Contains("core.url"));
  }
  SECTION("a password in the artifacts repo URL is refused, without repeating it") {
    auto e = parse_error("artifacts:\n  repo: https://bot:s3cret@gitlab.example.org/a.git\n");
    CHECK(e.context == "site.yaml:2");
    CHECK_THAT(e.message, Catch::Contains("artifacts.credentials_file"));
    CHECK_THAT(e.message, !Catch::Contains("s3cret"));
    // A user name alone (ssh) is fine.
    auto ok = parse_ok("artifacts:\n  repo: ssh://git@gitlab.example.org/a.git\n");
    CHECK(ok.artifacts.repo == "ssh://git@gitlab.example.org/a.git");
  }
}

TEST_CASE("config: paths that end up in module files are absolute", "[config]") {
  auto c = parse_ok("data_dir: relative/var\n");
  CHECK(c.data_dir == std::filesystem::current_path() / "relative" / "var");
  CHECK(c.scripts_dir() ==
        (std::filesystem::current_path() / "relative/var/installs/scripts").string());
  CHECK(config::default_config().data_dir.is_absolute());
  auto e = parse_error("module:\n  scripts_dir: scripts\n");
  CHECK(e.context == "site.yaml:2");
  CHECK_THAT(e.message, Catch::Contains("module.scripts_dir") && Catch::Contains("absolute"));
  e = parse_error("module:\n  module_dir: ../modules\n");
  CHECK_THAT(e.message, Catch::Contains("module.module_dir"));
}

TEST_CASE("config: an empty file gives the defaults", "[config]") {
  auto c = parse_ok("");
  CHECK(c.scheduler.backend == "local");
  CHECK(c.scheduler.poll_interval == 30s);
  CHECK(c.artifacts.branch == "main");
}

TEST_CASE("config: values are read", "[config]") {
  auto c = parse_ok(R"(
data_dir: /srv/softpack
scheduler:
  backend: slurm
  poll_interval: 1m
  min_poll_interval: 250ms
  lost_grace: 0:05:00
  defaults:
    partition: normal
    account: hgi
    time: 1-00:00:00
    mem: 4G
    cpus: 2
  stages:
    build:
      time: 4:00:00
      mem: 16G
      extra_args: [--exclusive]
spack:
  command: [/opt/spack/bin/spack, -d]
  target: x86_64_v3
  repo: /opt/repo
container:
  build_command: [apptainer, build, --fakeroot]
module:
  dependencies: [ISG/singularity/3.11.4]
  load_prefix: HGI/softpack
jobs:
  environment:
    SPACK_DISABLE_LOCAL_CONFIG: "true"
artifacts:
  repo: ssh://git@gitlab.example.org/hgi/softpack-artifacts.git
  branch: builds
)");
  CHECK(c.data_dir == "/srv/softpack");
  CHECK(c.scheduler.backend == "slurm");
  CHECK(c.scheduler.poll_interval == 60s);
  CHECK(c.scheduler.min_poll_interval == 250ms);
  CHECK(c.scheduler.lost_grace == 300s);
  CHECK(c.scheduler.defaults.partition == "normal");
  CHECK(c.scheduler.defaults.time_limit == 86400s);
  CHECK(c.scheduler.defaults.memory_mb == 4096);
  CHECK(c.scheduler.defaults.cpus == 2);
  SECTION("stages inherit the defaults and override some") {
    const auto build = c.resources_for("build");
    CHECK(build.partition == "normal");
    CHECK(build.cpus == 2);
    CHECK(build.time_limit == 4h);
    CHECK(build.memory_mb == 16384);
    CHECK(build.extra_args == std::vector<std::string>{"--exclusive"});
    CHECK(c.resources_for("module").time_limit == 86400s);
  }
  CHECK(c.spack.command == std::vector<std::string>{"/opt/spack/bin/spack", "-d"});
  CHECK(c.spack.target == "x86_64_v3");
  CHECK(c.container.build_command.front() == "apptainer");
  CHECK(c.module.load_prefix == "HGI/softpack");
  CHECK(c.jobs.environment.at("SPACK_DISABLE_LOCAL_CONFIG") == "true");
  CHECK(c.artifacts_repo() == "ssh://git@gitlab.example.org/hgi/softpack-artifacts.git");
}

TEST_CASE("config: errors name the key and the line", "[config]") {
  SECTION("unknown top-level key") {
    auto e = parse_error("data_dir: x\nsheduler:\n  backend: local\n");
    CHECK(e.context == "site.yaml:2");
    CHECK_THAT(e.message, Catch::Contains("unknown key 'sheduler'"));
  }
  SECTION("unknown nested key") {
    auto e = parse_error("scheduler:\n  backend: local\n  pol_interval: 3s\n");
    CHECK(e.context == "site.yaml:3");
    CHECK_THAT(e.message, Catch::Contains("scheduler.pol_interval"));
  }
  SECTION("unknown backend") {
    auto e = parse_error("scheduler:\n  backend: pbs\n");
    CHECK(e.context == "site.yaml:2");
    CHECK_THAT(e.message, Catch::Contains("pbs"));
  }
  SECTION("bad duration") {
    auto e = parse_error("scheduler:\n  poll_interval: soon\n");
    CHECK(e.context == "site.yaml:2");
    CHECK_THAT(e.message, Catch::Contains("scheduler.poll_interval"));
  }
  SECTION("bad memory") {
    auto e = parse_error("scheduler:\n  defaults:\n    mem: lots\n");
    CHECK(e.context == "site.yaml:3");
    CHECK_THAT(e.message, Catch::Contains("scheduler.defaults.mem"));
  }
  SECTION("cpus out of range") {
    auto e = parse_error("scheduler:\n  defaults:\n    cpus: 0\n");
    CHECK_THAT(e.message, Catch::Contains("cpus"));
  }
  SECTION("unknown stage") {
    auto e = parse_error("scheduler:\n  stages:\n    compile:\n      cpus: 2\n");
    CHECK(e.context == "site.yaml:3");
    CHECK_THAT(e.message, Catch::Contains("compile"));
  }
  SECTION("wrong type") {
    auto e = parse_error("spack:\n  command: {a: b}\n");
    CHECK_THAT(e.message, Catch::Contains("spack.command"));
  }
  SECTION("empty command") {
    auto e = parse_error("container:\n  build_command: []\n");
    CHECK_THAT(e.message, Catch::Contains("must not be empty"));
  }
  SECTION("bad environment variable name") {
    auto e = parse_error("jobs:\n  environment:\n    \"A B\": x\n");
    CHECK_THAT(e.message, Catch::Contains("jobs.environment.A B"));
  }
  SECTION("bad branch") {
    auto e = parse_error("artifacts:\n  branch: a..b\n");
    CHECK_THAT(e.message, Catch::Contains("artifacts.branch"));
  }
  SECTION("bad target") {
    auto e = parse_error("spack:\n  target: \"x86; rm\"\n");
    CHECK_THAT(e.message, Catch::Contains("spack.target"));
  }
  SECTION("not YAML") {
    auto e = parse_error("scheduler: [\n");
    CHECK_THAT(e.context, Catch::StartsWith("site.yaml"));
  }
  SECTION("duplicate key") {
    auto e = parse_error("data_dir: a\ndata_dir: b\n");
    CHECK(e.context == "site.yaml:2");
  }
}

TEST_CASE("config: every error is reported, with its key and line, in line order", "[config]") {
  const std::string text = "scheduler:\n"                 // 1
                           "  backend: pbs\n"             // 2
                           "  poll_interval: soon\n"      // 3
                           "spack:\n"                     // 4
                           "  target: \"x; y\"\n"         // 5
                           "modul:\n"                     // 6
                           "  x: 1\n"                     // 7
                           "jobs:\n"                      // 8
                           "  environment:\n"             // 9
                           "    \"A B\": x\n"             // 10
                           "publish:\n"                   // 11
                           "  destinations: [nowhere]\n"; // 12
  const auto checked = config::check_config(text, "site.yaml", backends::builtin().schema());
  CHECK(checked.complete);
  std::vector<std::string> got;
  for (const auto& e : checked.errors) {
    CHECK(e.kind == ErrorKind::config);
    got.push_back(e.context + " " + e.message.substr(0, e.message.find(':')));
  }
  CHECK(got == std::vector<std::string>{
                   "site.yaml:2 scheduler.backend", "site.yaml:3 scheduler.poll_interval",
                   "site.yaml:5 spack.target", "site.yaml:6 unknown key 'modul' (known here",
                   "site.yaml:10 jobs.environment.A B", "site.yaml:12 publish.destinations"});
  SECTION("parse_config returns them as one error that describes them all") {
    auto e = parse_error(text);
    CHECK(e.context == "site.yaml:2");
    const std::string all = e.describe();
    CHECK(std::count(all.begin(), all.end(), '\n') == 5);
    CHECK_THAT(all, Catch::StartsWith("site.yaml:2: scheduler.backend: unknown backend 'pbs'") &&
                        Catch::Contains("\nsite.yaml:12: publish.destinations: unknown "
                                        "destination 'nowhere'"));
  }
  SECTION("in the backends' sections and after them") {
    const auto more = config::check_config("registry:\n  url: ftp://x\n  bogus: 1\n"
                                           "server:\n  max_body: 0\n  port: x\nbogus: 2\n",
                                           "site.yaml", backends::builtin().schema());
    std::vector<std::string> where;
    for (const auto& e : more.errors) {
      where.push_back(e.context);
    }
    CHECK(where == std::vector<std::string>{"site.yaml:2", "site.yaml:3", "site.yaml:5",
                                            "site.yaml:6", "site.yaml:7"});
  }
  SECTION("one error stays as it is") {
    auto e = parse_error("scheduler:\n  poll_interval: soon\n");
    CHECK(e.describe() == "site.yaml:2: scheduler.poll_interval: expected a duration such as "
                          "30s, 5m, 2h or 1:00:00, found 'soon'");
  }
  SECTION("a YAML error ends the check there") {
    const auto bad = config::check_config("a: [\n", "site.yaml", backends::builtin().schema());
    CHECK_FALSE(bad.complete);
    REQUIRE(bad.errors.size() == 1);
  }
}

TEST_CASE("config: an error at the end of the file is on its last line", "[config]") {
  CHECK(parse_error("data_dir: x\nscheduler: [local\n").context == "site.yaml:2");
  CHECK(parse_error("data_dir: x\nscheduler:\n  stages: {build: {cpus: 2}\n\n").context ==
        "site.yaml:3");
  // A key with no value on the last line.
  CHECK(parse_error("data_dir: x\nscheduler:\n  poll_interval:\n  bogus:\n").context ==
        "site.yaml:4");
}

TEST_CASE("config: where each key is set", "[config]") {
  const auto c = parse_ok("data_dir: x\nserver:\n  port: 7081\n  api_token_file: /t\n");
  CHECK(c.where("data_dir") == "site.yaml:1");
  CHECK(c.where("server") == "site.yaml:2");
  CHECK(c.where("server.api_token_file") == "site.yaml:4");
  CHECK(c.where("server.address").empty());
}

TEST_CASE("config: extra_args may not override managed options", "[config]") {
  for (const std::string arg :
       {"--job-name=x", "-J", "--dependency=afterany:1", "--export=ALL", "--output=/tmp/x", "-o",
        "--partition=big", "-pbig", "--time=1", "-t10", "--mem=1G", "--requeue", "-w", "-R"}) {
    INFO(arg);
    auto e = parse_error("scheduler:\n  defaults:\n    extra_args: [\"" + arg + "\"]\n");
    CHECK_THAT(e.message, Catch::Contains("would override"));
    CHECK(e.context == "site.yaml:3");
  }
  for (const std::string arg : {"--exclusive", "--constraint=avx2", "--gres=gpu:1", "--nice=10"}) {
    INFO(arg);
    parse_ok("scheduler:\n  defaults:\n    extra_args: [\"" + arg + "\"]\n");
  }
}

TEST_CASE("config: load_config reports a missing file", "[config]") {
  auto c = backends::load_config("/nonexistent/softpack.yaml");
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().kind == ErrorKind::config);
  CHECK_THAT(c.error().describe(), Catch::Contains("/nonexistent/softpack.yaml"));
}

TEST_CASE("config: the lsf section", "[config][lsf]") {
  using scheduler::lsf::JsonMode;
  using scheduler::lsf::LsfOptions;
  SECTION("defaults: LSF's own default unit (KB), JSON detected, /softpack") {
    const auto d = settings<LsfOptions>(parse_ok(""), "lsf");
    CHECK(d.unit_for_limits == "KB");
    CHECK(d.json == JsonMode::detect);
    CHECK(d.job_group_root == "/softpack");
    CHECK(d.retry.command_timeout == 60s);
    CHECK(d.retry.retries == 3);
    auto shipped =
        backends::load_config(std::string(SOFTPACK_SOURCE_DIR) + "/config/softpack-builder.yaml");
    REQUIRE(shipped.has_value());
    const auto s = settings<LsfOptions>(*shipped, "lsf");
    CHECK(s.unit_for_limits == d.unit_for_limits);
    CHECK(s.json == d.json);
    CHECK(s.job_group_root == d.job_group_root);
    CHECK(s.retry.command_timeout == d.retry.command_timeout);
    CHECK(s.retry.retries == d.retry.retries);
  }
  SECTION("values are read") {
    auto c = parse_ok("scheduler:\n  backend: lsf\n  lsf:\n    command_timeout: 2m\n"
                      "    retries: 5\n    unit_for_limits: MB\n    json: \"false\"\n"
                      "    job_group_root: /hgi/softpack/\n");
    CHECK(c.scheduler.backend == "lsf");
    const auto lsf = settings<LsfOptions>(c, "lsf");
    CHECK(lsf.retry.command_timeout == 120s);
    CHECK(lsf.retry.retries == 5);
    CHECK(lsf.unit_for_limits == "MB");
    CHECK(lsf.json == JsonMode::off);
    CHECK(lsf.job_group_root == "/hgi/softpack");
  }
  SECTION("bad values name the key and the line") {
    auto unit = parse_error("scheduler:\n  lsf:\n    unit_for_limits: MiB\n");
    CHECK(unit.context == "site.yaml:3");
    CHECK_THAT(unit.message, Catch::Contains("scheduler.lsf.unit_for_limits"));
    CHECK_THAT(unit.message, Catch::Contains("LSF_UNIT_FOR_LIMITS"));
    auto json = parse_error("scheduler:\n  lsf:\n    json: maybe\n");
    CHECK(json.context == "site.yaml:3");
    CHECK_THAT(json.message, Catch::Contains("scheduler.lsf.json"));
    for (const std::string g : {"softpack", "/soft pack", "/a//b", "/a;b"}) {
      INFO(g);
      auto e = parse_error("scheduler:\n  lsf:\n    job_group_root: \"" + g + "\"\n");
      CHECK(e.context == "site.yaml:3");
      CHECK_THAT(e.message, Catch::Contains("scheduler.lsf.job_group_root"));
    }
    auto unknown = parse_error("scheduler:\n  lsf:\n    queue: normal\n");
    CHECK(unknown.context == "site.yaml:3");
    CHECK_THAT(unknown.message, Catch::Contains("scheduler.lsf.queue"));
  }
  SECTION("LSF has no QOS") {
    auto e = parse_error("scheduler:\n  backend: lsf\n  defaults:\n    qos: high\n");
    CHECK(e.context == "site.yaml:4");
    CHECK_THAT(e.message, Catch::Contains("scheduler.defaults.qos"));
    parse_ok("scheduler:\n  backend: slurm\n  defaults:\n    qos: high\n");
  }
  SECTION("extra_args may not override the options the LSF adapter sets") {
    for (const std::string arg : {"-Jd", "-cwd", "-oo", "-eo", "-g", "-env", "-ti", "-M"}) {
      INFO(arg);
      auto e = parse_error("scheduler:\n  defaults:\n    extra_args: [\"" + arg + "\"]\n");
      CHECK_THAT(e.message, Catch::Contains("would override"));
    }
    parse_ok("scheduler:\n  defaults:\n    extra_args: [-sla, softpack]\n");
  }
}

TEST_CASE("config: every hostile config fixture is refused quickly, naming where", "[config]") {
  const std::filesystem::path dir = std::filesystem::path(SOFTPACK_TEST_FIXTURES) / "hostile";
  const auto readme = read_file(dir / "README.md");
  REQUIRE(readme);
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    if (!file.starts_with("config_")) {
      continue;
    }
    INFO("fixture: " << file);
    CHECK_THAT(*readme, Catch::Contains("`" + file + "`"));
    const auto text = read_file(entry.path());
    REQUIRE(text);
    const auto start = std::chrono::steady_clock::now();
    const auto c = backends::parse_config(*text, file);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
    REQUIRE_FALSE(c.has_value());
    const Error& e = c.error();
    CHECK(e.kind == ErrorKind::config);
    CHECK_FALSE(e.message.empty());
    CHECK_THAT(e.context, Catch::StartsWith(file + ":"));
    for (char ch : e.describe()) {
      CHECK((ch >= 0x20 && ch <= 0x7e));
    }
    ++count;
  }
  CHECK(count >= 8);
}

TEST_CASE("config: alias bombs, deep nesting and invalid UTF-8 are refused", "[config]") {
  const auto fixture = [](const std::string& name) {
    auto text = read_file(std::string(SOFTPACK_TEST_FIXTURES) + "/hostile/" + name);
    REQUIRE(text);
    return *text;
  };
  SECTION("billion laughs") {
    const Error e = parse_error(fixture("config_alias_bomb.yaml"));
    CHECK(e.message == "document expands to more than 100000 nodes (alias expansion?)");
  }
  SECTION("aliases of a long scalar") {
    const Error e = parse_error(fixture("config_alias_long_scalar.yaml"));
    CHECK(e.message == "document expands to more than 8388608 bytes of text (alias expansion?)");
  }
  SECTION("deep nesting") {
    CHECK(parse_error(fixture("config_deep_flow_nesting.yaml")).message ==
          "nesting deeper than 64 levels");
    CHECK_THAT(parse_error(fixture("config_deep_block_nesting.yaml")).message,
               Catch::Contains("nesting"));
  }
  SECTION("a stray comma is an error, not an empty file") {
    const Error e = parse_error(fixture("config_stray_comma.yaml"));
    CHECK(e.message == "not valid YAML: unexpected ','");
    CHECK(e.context == "site.yaml:1");
  }
  SECTION("invalid UTF-8 and NUL bytes") {
    const Error latin1 = parse_error(fixture("config_invalid_utf8.yaml"));
    CHECK(latin1.message == "not valid UTF-8 (at byte offset 29)");
    CHECK(latin1.context == "site.yaml:2");
    CHECK(parse_error(fixture("config_nul_byte.yaml")).message == "contains a NUL byte");
  }
}

TEST_CASE("config: the pure parse_config takes its defaults and working directory", "[config]") {
  const config::Schema schema = backends::builtin().schema();
  config::Config defaults;
  defaults.data_dir = "/srv/default";
  defaults.templates_dir = "/srv/templates";
  SECTION("an empty file gives the defaults given") {
    const auto c = config::parse_config("", "site.yaml", schema, defaults, "/work");
    REQUIRE(c);
    CHECK(c->data_dir == "/srv/default");
    CHECK(c->templates_dir == "/srv/templates");
  }
  SECTION("a relative data_dir is resolved against the working directory") {
    const auto c =
        config::parse_config("data_dir: var/../state\n", "site.yaml", schema, defaults, "/work");
    REQUIRE(c);
    CHECK(c->data_dir == "/work/state");
  }
  SECTION("an absolute data_dir stays") {
    const auto c =
        config::parse_config("data_dir: /data/sp\n", "site.yaml", schema, defaults, "/work");
    REQUIRE(c);
    CHECK(c->data_dir == "/data/sp");
  }
}
