#include "artifacts/registry/oci_registry.hpp"
#include "backends/backends.hpp"
#include "flow/plan.hpp"
#include "support/copy_destination/copy_publisher.hpp"
#include "support/fake_command_runner.hpp"
#include "support/specs.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

using namespace softpack;

namespace {

config::Config parse_ok(const std::string& text,
                        const backends::Table& table = backends::builtin()) {
  auto c = backends::parse_config(text, "site.yaml", table);
  INFO(text);
  if (!c) {
    FAIL(c.error().describe());
  }
  return *c;
}

std::vector<std::string> names(const backends::Made& made) {
  std::vector<std::string> out;
  for (const auto* p : made.publishers()) {
    out.push_back(p->name());
  }
  return out;
}

spec::ValidSpec spec_named(const std::string& path, const std::string& name) {
  spec::EnvironmentSpec s;
  s.path = path;
  s.name = name;
  s.version = "1";
  s.packages = {{"xxhash", "0.8.1"}};
  return testing::valid_spec(std::move(s));
}

// The test-only destination's row: the one line that adds it to a table.
Expected<std::unique_ptr<artifacts::Publisher>> make_copy(const backends::Context&,
                                                          const std::any& settings) {
  auto o = backends::settings_as<testing::CopyOptions>(settings);
  if (!o) {
    return o.error();
  }
  return std::unique_ptr<artifacts::Publisher>(
      std::make_unique<testing::CopyPublisher>(std::move(*o)));
}

const backends::DestinationRow k_copy_row{
    testing::CopyPublisher::k_name, "copy",
    backends::read_section<testing::CopyOptions, testing::read_copy_options>, make_copy};

} // namespace

TEST_CASE("backends: every row makes the backend of its name", "[backends]") {
  boost::asio::io_context io;
  testing::FakeCommandRunner runner;
  const auto& table = backends::builtin();
  for (const auto& row : table.schedulers) {
    INFO(row.name);
    const auto c = parse_ok("scheduler:\n  backend: " + std::string(row.name) + "\n");
    auto made = backends::make({io, runner, c});
    REQUIRE(made);
    CHECK(made->scheduler->name() == row.name);
  }
  const auto c = parse_ok(R"(
registry:
  url: http://127.0.0.1:5000/softpack
core:
  url: http://127.0.0.1:8000
publish:
  destinations: [core, registry, install]
)");
  auto made = backends::make({io, runner, c});
  REQUIRE(made);
  std::vector<std::string> rows;
  for (const auto& row : table.destinations) {
    rows.emplace_back(row.name);
  }
  CHECK(rows == std::vector<std::string>{"install", "registry", "git", "core"});
  // In the table's order, which is the publishing order; git may not go with core.
  CHECK(names(*made) == std::vector<std::string>{"install", "registry", "core"});
  auto git = backends::make({io, runner, parse_ok("publish:\n  destinations: [git]\n")});
  REQUIRE(git);
  CHECK(names(*git) == std::vector<std::string>{"git"});
}

TEST_CASE("backends: the defaults come from the table", "[backends]") {
  boost::asio::io_context io;
  testing::FakeCommandRunner runner;
  const auto c = parse_ok("");
  CHECK(c.scheduler.backend == "local");
  CHECK(c.publish.destinations == std::vector<std::string>{"git"});
  auto made = backends::make({io, runner, c});
  REQUIRE(made);
  CHECK(made->scheduler->name() == "local");
  CHECK(names(*made) == std::vector<std::string>{"git"});

  SECTION("a Config not made by parse_config takes the rows' defaults") {
    config::Config hand = config::default_config();
    CHECK(hand.scheduler.backend.empty());
    CHECK(hand.publish.destinations.empty());
    auto m = backends::make({io, runner, hand});
    REQUIRE(m);
    CHECK(m->scheduler->name() == "local");
    CHECK(names(*m) == std::vector<std::string>{"git"});
    hand.publish.destinations = {"registry"}; // without registry.url
    auto bad = backends::make({io, runner, hand});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().kind == ErrorKind::config);
    CHECK_THAT(bad.error().message, Catch::Contains("registry.url"));
    hand.publish.destinations = {"git", "core"};
    bad = backends::make({io, runner, hand});
    REQUIRE_FALSE(bad);
    CHECK_THAT(bad.error().message, Catch::Contains("may not be used together"));
    hand.publish.destinations = {"s3"};
    bad = backends::make({io, runner, hand});
    REQUIRE_FALSE(bad);
    CHECK_THAT(bad.error().message, Catch::Contains("'s3'"));
  }
}

TEST_CASE("backends: names come from the table in errors", "[backends]") {
  auto e = backends::parse_config("scheduler:\n  backend: pbs\n", "site.yaml");
  REQUIRE_FALSE(e);
  CHECK_THAT(e.error().message, Catch::Contains("expected local, slurm or lsf"));
  e = backends::parse_config("publish:\n  destinations: [s3]\n", "site.yaml");
  REQUIRE_FALSE(e);
  CHECK_THAT(e.error().message, Catch::Contains("known: install, registry, git, core"));
}

TEST_CASE("backends: the registry refuses, at submission, names it cannot take", "[backends]") {
  boost::asio::io_context io;
  testing::FakeCommandRunner runner;
  const auto c = parse_ok("registry:\n  url: http://127.0.0.1:5000/softpack\n"
                          "publish:\n  destinations: [registry, git]\n");
  auto made = backends::make({io, runner, c});
  REQUIRE(made);
  CHECK(flow::destinations_accept(made->publishers(), spec_named("users/alice", "my-env")));
  // Two separators in a row make no valid OCI repository name.
  auto refused =
      flow::destinations_accept(made->publishers(), spec_named("users/alice", "my--_env"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::invalid_input);
  CHECK_THAT(refused.error().describe(), Catch::Contains("name"));
  // Without the registry, the same name is fine.
  auto git_only = backends::make({io, runner, parse_ok("")});
  REQUIRE(git_only);
  CHECK(flow::destinations_accept(git_only->publishers(), spec_named("users/alice", "my--_env")));
}

TEST_CASE("backends: a destination added with one folder and one row", "[backends]") {
  // tests/support/copy_destination/ is the folder; k_copy_row is the row. Nothing in src/ names it.
  backends::Table table = backends::builtin();
  table.destinations.push_back(k_copy_row);
  testing::TempDir t;
  boost::asio::io_context io;
  testing::FakeCommandRunner runner;

  const auto c = parse_ok("copy:\n  dir: " + (t / "copies").string() +
                              "\npublish:\n  destinations: [copy, git]\n",
                          table);
  CHECK(c.publish.destinations == std::vector<std::string>{"git", "copy"});
  auto made = backends::make({io, runner, c}, table);
  REQUIRE(made);
  REQUIRE(names(*made) == std::vector<std::string>{"git", "copy"});
  artifacts::Publisher& copy = *made->publishers().back();

  SECTION("it publishes") {
    artifacts::PublishRequest req;
    req.spec = spec_named("users/alice", "my-env");
    req.build_id = "b1";
    req.success = false;
    req.out_dir = t / "out";
    t.write("out/builder.out", "it failed\n");
    auto r = copy.publish(req);
    REQUIRE(r);
    CHECK(t.read("copies/environments/users/alice/my-env-1/builder.out") == "it failed\n");
  }
  SECTION("it has its say at submission") {
    CHECK(flow::destinations_accept(made->publishers(), spec_named("users/alice", "fine")));
    auto refused =
        flow::destinations_accept(made->publishers(), spec_named("users/alice", "refused"));
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().message, Catch::Contains("copy destination"));
  }
  SECTION("its section is read by its own reader, with the key and the line") {
    auto e = backends::parse_config("copy:\n  dir: relative\n", "site.yaml", table);
    REQUIRE_FALSE(e);
    CHECK(e.error().context == "site.yaml:2");
    CHECK_THAT(e.error().message, Catch::Contains("copy.dir"));
    e = backends::parse_config("copy:\n  dri: /x\n", "site.yaml", table);
    REQUIRE_FALSE(e);
    CHECK_THAT(e.error().message, Catch::Contains("unknown key 'copy.dri'"));
    // Without the row, the section is an unknown key.
    e = backends::parse_config("copy:\n  dir: /x\n", "site.yaml");
    REQUIRE_FALSE(e);
    CHECK_THAT(e.error().message, Catch::Contains("unknown key 'copy'"));
  }
}

TEST_CASE("backends: a selected destination's required settings", "[backends]") {
  auto e = backends::parse_config("publish:\n  destinations: [install, core]\n", "site.yaml");
  REQUIRE_FALSE(e);
  CHECK(e.error().context == "site.yaml:2");
  CHECK(e.error().message == "publish.destinations: 'core' needs core.url");
  // Not selected: the section may be left out, or hold defaults.
  CHECK(backends::parse_config("core:\n  timeout: 5s\n", "site.yaml"));
}

TEST_CASE("backends: service start hooks get their row's settings", "[backends]") {
  static std::vector<std::string> seen;
  seen.clear();
  backends::Table table = backends::builtin();
  backends::DestinationRow row = k_copy_row;
  row.on_service_start = [](const std::any& settings) {
    seen.push_back(std::any_cast<testing::CopyOptions>(settings).dir.string());
  };
  table.destinations.push_back(row);
  // Whether or not the destination is selected.
  backends::service_started(parse_ok("copy:\n  dir: /srv/copies\n", table), table);
  CHECK(seen == std::vector<std::string>{"/srv/copies"});
}
