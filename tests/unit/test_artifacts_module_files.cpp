#include "artifacts/module_files.hpp"
#include "artifacts/spack_lock.hpp"
#include "support/specs.hpp"
#include "util/fs.hpp"

#include <array>
#include <cstdio>
#include <unistd.h>

#include <catch2/catch.hpp>

using namespace softpack;

namespace {

render::TemplateSet templates() {
  return render::TemplateSet(std::string(SOFTPACK_SOURCE_DIR) + "/templates");
}

spec::ValidSpec example_spec(std::string description) {
  spec::EnvironmentSpec s;
  s.path = "users/alice";
  s.name = "env";
  s.version = "3";
  s.description = std::move(description);
  s.packages = {{"xxhash", "0.8.1"}, {"hello", ""}};
  return testing::valid_spec(std::move(s));
}

// Runs a program with `input` written to a temporary file given as its last argument; returns
// stdout+stderr.
std::string run_with_file(const std::string& command, const std::string& input) {
  char path[] = "/tmp/softpack-test-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, input.data(), input.size()) == static_cast<ssize_t>(input.size()));
  ::close(fd);
  std::string out;
  FILE* p = ::popen((command + " " + path + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
    out.append(buf.data(), n);
  }
  ::pclose(p);
  ::unlink(path);
  return out;
}

} // namespace

TEST_CASE("artifacts: parse the roots of a Spack v5 lockfile", "[artifacts]") {
  auto text =
      read_file(std::string(SOFTPACK_TEST_FIXTURES) + "/spack/spack_lock_v5_two_roots.json");
  REQUIRE(text.has_value());
  auto roots = artifacts::parse_lock_roots(*text);
  REQUIRE(roots.has_value());
  REQUIRE(roots->size() == 2);
  CHECK((*roots)[0].to_spec() == "xxhash@0.8.1");
  CHECK((*roots)[1].to_spec() == "hello@2.12.1"); // the concrete version, not the request
}

TEST_CASE("artifacts: the roots in the requested order, whatever the lock's", "[artifacts]") {
  using P = spec::Package;
  const std::vector<P> requested{{"xxhash", "0.8.1"}, {"zlib", ""}, {"py-numpy", ""}};
  // Real Spack's order for the same request differs from run to run.
  const auto ordered = artifacts::in_requested_order(
      {{"extra", "1"}, {"zlib", "1.3"}, {"py-numpy", "1.26.4"}, {"xxhash", "0.8.1"}}, requested);
  std::vector<std::string> names;
  for (const auto& p : ordered) {
    names.push_back(p.name + "@" + p.version);
  }
  CHECK(names ==
        std::vector<std::string>{"xxhash@0.8.1", "zlib@1.3", "py-numpy@1.26.4", "extra@1"});
}

TEST_CASE("artifacts: malformed lockfiles name what is wrong", "[artifacts]") {
  auto check = [](const std::string& text, const std::string& expected) {
    INFO(text);
    auto r = artifacts::parse_lock_roots(text);
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().describe(), Catch::Contains(expected));
  };
  check("not json", "not valid JSON");
  check("[]", "expected a JSON object");
  check(R"({"roots": []})", "lockfile-version");
  check(R"({"_meta": {"lockfile-version": 5}, "concrete_specs": {}})", "roots");
  check(R"({"_meta": {"lockfile-version": 5}, "roots": [{"hash": "abc"}], "concrete_specs": {}})",
        "roots[0].hash");
  check(R"({"_meta": {"lockfile-version": 5}, "roots": [{"hash": "abc"}],
            "concrete_specs": {"abc": {"name": "x;y", "version": "1"}}})",
        "invalid package name");
}

TEST_CASE("artifacts: executables from ls output are sorted, unique and plain", "[artifacts]") {
  std::vector<std::string> skipped;
  auto exes = artifacts::parse_executables("xxhsum\nhello\n\nhello\n.hidden\nbad name\n"
                                           "a;b\nR\nf2py3.11\nc++\n",
                                           &skipped);
  CHECK(exes == std::vector<std::string>{"R", "c++", "f2py3.11", "hello", "xxhsum"});
  CHECK(skipped.size() == 3);
}

TEST_CASE("artifacts: module file, README, softpack.yml and wrappers", "[artifacts]") {
  artifacts::ModuleInputs in;
  in.spec = example_spec("An environment.\nWith two lines.\n");
  in.concrete = {{"xxhash", "0.8.1"}, {"hello", "2.12.1"}};
  in.executables = {"hello", "xxhsum"};
  in.dependencies = {"ISG/singularity"};
  in.scripts_dir = "/software/scripts";
  in.load_prefix = "HGI/softpack";
  auto files = artifacts::render_module_files(in, templates());
  REQUIRE(files.has_value());

  CHECK_THAT(files->module, Catch::StartsWith("#%Module"));
  CHECK_THAT(files->module, Catch::Contains("module-whatis \"Name: env\""));
  CHECK_THAT(files->module, Catch::Contains("module-whatis \"Version: 3\""));
  CHECK_THAT(files->module,
             Catch::Contains("module-whatis \"Packages: xxhash@0.8.1, hello@2.12.1\""));
  CHECK_THAT(files->module, Catch::Contains("module load \"ISG/singularity\""));
  CHECK_THAT(files->module,
             Catch::Contains("prepend-path PATH \"/software/scripts/users/alice/env/3-scripts\""));
  CHECK_THAT(files->readme, Catch::Contains("module load HGI/softpack/users/alice/env/3"));
  CHECK_THAT(files->readme, Catch::Contains(" - xxhsum"));
  CHECK_THAT(files->softpack_yml, Catch::Contains("The following executables are added to your "
                                                  "PATH:\\n  - hello\\n  - xxhsum"));
  REQUIRE(files->wrappers.size() == 2);
  CHECK_THAT(files->wrappers.at("xxhsum"),
             Catch::Contains("exec singularity exec "
                             "/software/scripts/users/alice/env/3-scripts/singularity.sif xxhsum "
                             "\"$@\""));
  CHECK(run_with_file("bash -n", files->wrappers.at("hello")).empty());
}

TEST_CASE("artifacts: Tcl metacharacters in a description neither break nor execute",
          "[artifacts]") {
  const std::string description = "Braces {a} [exec touch /tmp/softpack-pwned] $env(HOME) "
                                  "\"quoted\" back\\slash ;semi\n"
                                  "second line } unbalanced { and a tab\there";
  artifacts::ModuleInputs in;
  in.spec = example_spec(description);
  in.executables = {"hello"};
  in.scripts_dir = "/s";
  auto files = artifacts::render_module_files(in, templates());
  REQUIRE(files.has_value());
  ::unlink("/tmp/softpack-pwned");
  // Evaluate the module file with tclsh, the procs the module command provides stubbed, and
  // print what ModulesHelp says: it must be exactly the description.
  const std::string harness = "proc module-whatis {args} {}\n"
                              "proc prepend-path {args} {}\n"
                              "proc module {args} {}\n" +
                              files->module + "\nModulesHelp\n";
  const std::string out = run_with_file("tclsh", harness);
  CHECK_THAT(out, Catch::StartsWith(description + "\n\nThe following executables"));
  CHECK(::access("/tmp/softpack-pwned", F_OK) != 0);
}

TEST_CASE("artifacts: module stage reads build.json and writes its files", "[artifacts]") {
  char tmpl[] = "/tmp/softpack-module-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::filesystem::path dir = tmpl;
  auto spec = example_spec("Desc");
  const std::string build_json =
      R"({"build_id":"b1","spec":)" + spec::to_json(spec) +
      R"(,"exec_command":["apptainer","exec"],"module_dependencies":[],"module_load_prefix":"",)"
      R"("scripts_dir":"/s","templates_dir":")" +
      std::string(SOFTPACK_SOURCE_DIR) + R"(/templates"})";
  REQUIRE(write_file_atomic(dir / "build.json", build_json));
  auto lock =
      read_file(std::string(SOFTPACK_TEST_FIXTURES) + "/spack/spack_lock_v5_two_roots.json");
  REQUIRE(write_file_atomic(dir / "out" / "spack.lock", *lock));
  REQUIRE(write_file_atomic(dir / "out" / "executables", "xxhsum\nhello\n"));

  auto r = artifacts::run_module_stage(dir);
  REQUIRE(r.has_value());
  auto module = read_file(dir / "out" / "module");
  REQUIRE(module.has_value());
  CHECK_THAT(*module, Catch::Contains("Packages: xxhash@0.8.1, hello@2.12.1"));
  auto wrapper = read_file(dir / "out" / "scripts" / "hello");
  REQUIRE(wrapper.has_value());
  CHECK_THAT(*wrapper, Catch::Contains("exec apptainer exec"));
  CHECK((std::filesystem::status(dir / "out" / "scripts" / "hello").permissions() &
         std::filesystem::perms::owner_exec) != std::filesystem::perms::none);

  SECTION("a missing lockfile is an error naming it") {
    std::filesystem::remove(dir / "out" / "spack.lock");
    auto e = artifacts::run_module_stage(dir);
    REQUIRE_FALSE(e.has_value());
    CHECK_THAT(e.error().describe(), Catch::Contains("spack.lock"));
  }
  std::filesystem::remove_all(dir);
}
