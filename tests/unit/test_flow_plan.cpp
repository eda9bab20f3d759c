#include "flow/plan.hpp"
#include "support/specs.hpp"
#include "support/temp_dir.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"
#include "util/yaml.hpp"

#include <cstdlib>
#include <sys/stat.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>

using namespace softpack;
using testing::TempDir;

namespace {

const std::string k_build_id = "20261125T064636Z-3fa9c2b1";
// Free text that would run commands, end quotes or start new lines if it reached a script
// unquoted.
const std::string k_hostile_description =
    "Evil $(touch /tmp/softpack-pwned) `touch /tmp/softpack-pwned2` 'single' \"double\"\n"
    "second line; rm -rf ~ && echo \\ ${HOME}\n"
    "EOF\n'\"\n";

config::Config test_config(const std::filesystem::path& data_dir) {
  config::Config c = config::default_config();
  c.data_dir = data_dir;
  c.templates_dir = std::string(SOFTPACK_SOURCE_DIR) + "/templates";
  c.jobs.path = std::string(SOFTPACK_TEST_FAKES) + ":/usr/local/bin:/usr/bin:/bin";
  c.jobs.builder_command = "/opt/softpack/bin/softpack-builder";
  return c;
}

spec::ValidSpec test_spec() {
  spec::EnvironmentSpec s;
  s.path = "users/alice";
  s.name = "env";
  s.version = "1";
  s.description = k_hostile_description;
  s.packages = {{"xxhash", "0.8.1"}, {"hello", ""}};
  return testing::valid_spec(std::move(s));
}

flow::BuildPlan plan_for(const config::Config& c) {
  auto plan = flow::make_plan(c, test_spec(), k_build_id, render::TemplateSet(c.templates_dir));
  REQUIRE(plan.has_value());
  return *plan;
}

// `bash -n` on the text; returns bash's exit status.
int bash_syntax_check(const TempDir& dir, const std::string& text) {
  const auto path = dir.write("syntax-check.sh", text);
  const int status = std::system(("bash -n '" + path.string() + "' 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const YamlNode& child(const YamlNode& node, std::string_view key) {
  const YamlNode* found = node.find(key);
  INFO("key " << key);
  REQUIRE(found != nullptr);
  return *found;
}

std::vector<std::string> scalars(const YamlNode& seq) {
  std::vector<std::string> out;
  for (const auto& item : seq.items) {
    out.push_back(item.scalar);
  }
  return out;
}

} // namespace

TEST_CASE("plan: three stages, named for the environment, each after the one before", "[plan]") {
  TempDir dir;
  const auto plan = plan_for(test_config(dir / "data"));
  CHECK(plan.build_id == k_build_id);
  CHECK(plan.build_dir == std::filesystem::absolute(dir / "data" / "builds" / k_build_id));
  REQUIRE(plan.stages.size() == 3);
  const std::vector<std::string> names{"concretize", "build", "module"};
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(plan.stages[i].name == names[i]);
    CHECK(plan.stages[i].job_name == "sp.alice.env-1." + names[i]);
  }
  CHECK(plan.stages[0].after.empty());
  CHECK(plan.stages[1].after == std::vector<std::string>{"concretize"});
  CHECK(plan.stages[2].after == std::vector<std::string>{"build"});

  const auto js = plan.job_spec(plan.stages[1], {scheduler::JobId{"42"}});
  CHECK(js.name == "sp.alice.env-1.build");
  CHECK(js.comment == k_build_id);
  CHECK(js.script == plan.build_dir / "scripts" / "build.sh");
  CHECK(js.workdir == plan.build_dir);
  CHECK(js.stdout_path == plan.build_dir / "logs" / "build.out");
  CHECK(js.stderr_path == js.stdout_path);
  REQUIRE(js.after_ok.size() == 1);
  CHECK(js.after_ok[0].value == "42");
}

TEST_CASE("plan: job scripts are valid bash and never contain the description", "[plan]") {
  TempDir dir;
  const auto plan = plan_for(test_config(dir / "data"));
  for (const auto& stage : plan.stages) {
    INFO("stage " << stage.name << ":\n" << stage.script);
    CHECK(bash_syntax_check(dir, stage.script) == 0);
    CHECK_THAT(stage.script, Catch::Contains("set -euo pipefail"));
    CHECK_THAT(stage.script, Catch::Contains("trap sp_finish EXIT"));
    CHECK_THAT(stage.script,
               Catch::Contains("SP_RESULT=" + sh_quote(plan.result_path(stage.name).string())));
    CHECK_THAT(stage.script,
               Catch::Contains("export PATH=" + sh_quote(std::string(SOFTPACK_TEST_FAKES) +
                                                         ":/usr/local/bin:/usr/bin:/bin")));
    CHECK_THAT(stage.script, !Catch::Contains(k_hostile_description));
    CHECK_THAT(stage.script, !Catch::Contains("softpack-pwned"));
    CHECK_THAT(stage.script, !Catch::Contains("Evil"));
  }
  CHECK_THAT(plan.spack_yaml, !Catch::Contains("softpack-pwned"));
  CHECK_THAT(plan.stages[2].script,
             Catch::Contains(sh_quote("/opt/softpack/bin/softpack-builder") + " stage-module"));
}

TEST_CASE("plan: a job ended by INT and TERM together still records its result", "[plan]") {
  // LSF's bkill sends SIGINT and SIGTERM at once (and Slurm may signal more than once): a second
  // signal arriving while the EXIT trap writes the result file must not end the script first.
  TempDir dir;
  config::Config c = test_config(dir / "data");
  // The templates, with a build stage that waits to be signalled.
  std::filesystem::copy(c.templates_dir, dir / "templates");
  dir.write("templates/build.sh.mustache", "sleep 30\n");
  c.templates_dir = dir / "templates";
  const auto plan = plan_for(c);
  REQUIRE(flow::write_plan(plan).has_value());
  const auto script = plan.script_path("build");
  // The job in a process group of its own, signalled as a group once it has started (its
  // started file is written after its traps are set): INT, then TERM over and over while it
  // records its result.
  const std::string harness = "setsid bash '" + script.string() +
                              "' >/dev/null 2>&1 & pid=$!\n"
                              "for i in $(seq 100); do [ -e '" +
                              plan.started_path("build").string() +
                              "' ] && break; sleep 0.05; done\n"
                              "kill -INT -- -$pid\n"
                              "while kill -TERM -- -$pid 2>/dev/null; do :; done\n"
                              "wait $pid\n";
  const auto harness_path = dir.write("signal-harness.sh", harness);
  const int status = std::system(("bash '" + harness_path.string() + "'").c_str());
  CHECK(WIFEXITED(status));
  auto result = read_file(plan.result_path("build"));
  REQUIRE(result.has_value());
  CHECK_THAT(*result, Catch::StartsWith("exit=143\n") && Catch::Contains("signal=TERM\n"));
}

TEST_CASE("plan: write_plan lays out the build directory once", "[plan]") {
  TempDir dir;
  const auto plan = plan_for(test_config(dir / "data"));
  REQUIRE(flow::write_plan(plan).has_value());
  for (const auto* sub : {"env/spack.yaml", "build.json", "logs", "out"}) {
    CHECK(std::filesystem::exists(plan.build_dir / sub));
  }
  for (const auto& stage : plan.stages) {
    struct stat st {};
    REQUIRE(::stat(plan.script_path(stage.name).c_str(), &st) == 0);
    CHECK((st.st_mode & 0111) != 0);
  }
  auto again = flow::write_plan(plan);
  REQUIRE_FALSE(again.has_value());
  CHECK_THAT(again.error().describe(), Catch::Contains("already"));
}

TEST_CASE("plan: the concretize script runs with a fake spack and records its result", "[plan]") {
  TempDir dir;
  // A data directory whose path would break an unquoted script.
  const auto plan = plan_for(test_config(dir / "data dir $(touch pwned) 'q'"));
  REQUIRE(flow::write_plan(plan).has_value());
  const std::string cmd = "cd '" + dir.path().string() + "' && env -i HOME=\"$HOME\" bash " +
                          sh_quote(plan.script_path("concretize").string()) + " >/dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  INFO(read_tail(plan.log_path("concretize"), 4096));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  auto result = read_file(plan.result_path("concretize"));
  REQUIRE(result.has_value());
  CHECK_THAT(*result, Catch::StartsWith("exit=0\n"));
  CHECK(std::filesystem::exists(plan.started_path("concretize")));
  // Spack concretized a copy: the image's env/spack.yaml is untouched, and has no lock.
  CHECK(std::filesystem::exists(plan.build_dir / "concretize" / "spack.lock"));
  CHECK_FALSE(std::filesystem::exists(plan.build_dir / "env" / "spack.lock"));
  CHECK(read_file(plan.build_dir / "env" / "spack.yaml").value() == plan.spack_yaml);
  // The published lock is the image's (the module stage reads it from the image), not this one.
  CHECK_FALSE(std::filesystem::exists(plan.out_dir() / "spack.lock"));
  const std::string script = read_file(plan.script_path("concretize")).value();
  CHECK_THAT(script, Catch::Contains("-D concretize concretize") &&
                         Catch::Contains("config:install_tree:root:$PWD/concretize/store") &&
                         Catch::Contains("SPACK_USER_CACHE_PATH="));
  CHECK_FALSE(std::filesystem::exists(dir / "pwned"));
  CHECK_FALSE(std::filesystem::exists(plan.build_dir / "pwned"));
}

TEST_CASE("plan: spack.yaml lists the specs and the site's settings", "[plan]") {
  TempDir dir;
  config::Config c = test_config(dir / "data");
  std::vector<std::string> expected_specs{"xxhash@0.8.1", "hello"};
  std::string expected_repo;
  std::string expected_image_repo;
  const std::filesystem::path build_dir = dir / "data" / "builds" / "b1";
  SECTION("defaults") {}
  SECTION("a target is added to every spec") {
    c.spack.target = "x86_64_v3";
    expected_specs = {"xxhash@0.8.1 arch=None-None-x86_64_v3", "hello arch=None-None-x86_64_v3"};
  }
  SECTION("a repo directory adds repos:, copied into the image") {
    c.spack.repo = "/opt/site-repo";
    expected_repo = "/opt/site-repo";
    expected_image_repo = "/opt/spack-repo";
  }
  SECTION("a git repo is the concretize stage's clone, and the image's") {
    c.spack.repo = "https://git.example.org/spack-repo.git";
    expected_repo = (build_dir / "concretize" / "repo").string();
    expected_image_repo = "/opt/spack-repo";
  }
  const render::TemplateSet templates(c.templates_dir);
  for (const bool image : {false, true}) {
    INFO("image " << image);
    auto text = flow::render_spack_yaml(c, test_spec(), templates, build_dir, image);
    REQUIRE(text.has_value());
    INFO(*text);
    auto doc = parse_yaml(*text, "spack.yaml");
    REQUIRE(doc.has_value());
    REQUIRE(doc->entries.size() == 1);
    const YamlNode& spack = child(*doc, "spack");
    CHECK(scalars(child(spack, "specs")) == expected_specs);
    CHECK(child(child(spack, "concretizer"), "unify").scalar == "true");
    CHECK(spack.find("container") == nullptr);
    if (image) {
      // The image's: a padded install tree, so that cached binaries relocate, and the view.
      const YamlNode& tree = child(child(spack, "config"), "install_tree");
      CHECK(child(tree, "root").scalar == "/opt/software");
      CHECK(child(tree, "padded_length").scalar == "128");
      CHECK_FALSE(child(tree, "padded_length").quoted); // an integer for Spack's schema
      CHECK(child(spack, "view").scalar == "/opt/views/view");
    } else {
      // No view or install tree: spack.yaml's would beat the stage's store in the build
      // directory, and apply on the submit host (where /opt is not the job user's).
      CHECK(spack.find("view") == nullptr);
      CHECK(spack.find("config") == nullptr);
    }
    const std::string& repo = image ? expected_image_repo : expected_repo;
    if (!repo.empty()) {
      CHECK(scalars(child(spack, "repos")) == std::vector<std::string>{repo});
    } else {
      CHECK(spack.find("repos") == nullptr);
    }
  }
}

namespace {

// The %post section of the recipe's build stage (up to the next "Bootstrap:").
std::string build_post(const std::string& def) {
  const auto post = def.find("\n%post\n");
  REQUIRE(post != std::string::npos);
  const auto end = def.find("\nBootstrap:", post);
  REQUIRE(end != std::string::npos);
  return def.substr(post + 7, end - post - 7);
}

} // namespace

TEST_CASE("plan: the image recipe", "[plan]") {
  TempDir dir;
  config::Config c = test_config(dir / "data");
  const std::filesystem::path build_dir = dir / "data" / "builds" / "b1";
  const render::TemplateSet templates(c.templates_dir);
  spec::EnvironmentSpec s = test_spec().get();
  s.packages = {{"xxhash", "0.8.1"}, {"py-numpy", ""}, {"r-ggplot2", ""}};
  const auto spec = testing::valid_spec(std::move(s));

  SECTION("defaults: two stages, no caches") {
    auto def = flow::render_singularity_def(c, spec, templates, build_dir);
    REQUIRE(def.has_value());
    INFO(*def);
    CHECK_THAT(*def, Catch::StartsWith("Bootstrap: docker\nFrom: spack/ubuntu-jammy:0.21.2\n"
                                       "Stage: build\n"));
    CHECK_THAT(*def, Catch::Contains("Bootstrap: docker\nFrom: ubuntu:22.04\nStage: final\n"));
    CHECK_THAT(*def, Catch::Contains("%files from build\n  /opt/spack-environment /opt\n"
                                     "  /opt/software /opt\n  /opt/views /opt\n"));
    const std::string post = build_post(*def);
    CHECK(bash_syntax_check(dir, post) == 0);
    CHECK_THAT(post, Catch::Contains("spack -e . concretize --fresh") &&
                         Catch::Contains("spack -e . install --fail-fast") &&
                         Catch::Contains("spack -e . gc -y") &&
                         Catch::Contains("spack env activate --sh -d . >") &&
                         Catch::Contains("/opt/spack-environment/executables"));
    CHECK_THAT(post, !Catch::Contains("mirror add") && !Catch::Contains("buildcache"));
    // The manifest is the image's spack.yaml, in a quoted heredoc.
    CHECK_THAT(post, Catch::Contains("cat << 'EOF' > spack.yaml\n# Spack environment") &&
                         Catch::Contains("padded_length: 128"));
    // The executables of the requested packages, and python and R for py- and r- packages.
    CHECK_THAT(post, Catch::Contains("for name in xxhash py-numpy r-ggplot2; do") &&
                         Catch::Contains("echo python\n") && Catch::Contains("echo R\n") &&
                         Catch::Contains("echo Rscript\n"));
  }
  SECTION("binary caches: added after concretizing; keys trusted; pushed to the first writable, "
          "also after a failed install") {
    c.spack.binary_caches = {{"https://cache.example.org/ro", false},
                             {"file:///srv/spack cache?x", true},
                             {"oci://reg.example.org/cache", true}};
    auto def = flow::render_singularity_def(c, spec, templates, build_dir);
    REQUIRE(def.has_value());
    INFO(*def);
    const std::string post = build_post(*def);
    CHECK(bash_syntax_check(dir, post) == 0);
    const auto concretize = post.find("spack -e . concretize");
    const auto mirror = post.find("spack -e . mirror add softpack-cache-1 "
                                  "https://cache.example.org/ro\n");
    CHECK(concretize < mirror);
    CHECK(mirror != std::string::npos);
    CHECK_THAT(post, Catch::Contains("mirror add softpack-cache-2 'file:///srv/spack cache?x'"));
    CHECK_THAT(post, Catch::Contains("spack -e . buildcache keys --install --trust"));
    CHECK_THAT(post, Catch::Contains("--update-index softpack-cache-2 $installed") &&
                         Catch::Contains("--update-index softpack-cache-2 ||"));
    CHECK_THAT(post, !Catch::Contains("--unsigned") && !Catch::Contains("--no-check-signature"));
    c.spack.unsigned_caches = true;
    def = flow::render_singularity_def(c, spec, templates, build_dir);
    REQUIRE(def.has_value());
    CHECK_THAT(*def, Catch::Contains("install --fail-fast --no-check-signature") &&
                         Catch::Contains("buildcache push --unsigned --update-index") &&
                         !Catch::Contains("buildcache keys"));
  }
  SECTION("only read-only caches: nothing is pushed") {
    c.spack.binary_caches = {{"https://cache.example.org/ro", false}};
    auto def = flow::render_singularity_def(c, spec, templates, build_dir);
    REQUIRE(def.has_value());
    CHECK_THAT(*def, !Catch::Contains("buildcache push"));
  }
  SECTION("a repo directory is copied in; a git repo is cloned at the placeholder commit") {
    c.spack.repo = "/opt/site-repo";
    auto def = flow::render_singularity_def(c, spec, templates, build_dir);
    REQUIRE(def.has_value());
    CHECK_THAT(*def, Catch::Contains("Stage: build\n\n%files\n  /opt/site-repo /opt/spack-repo\n"));
    CHECK_THAT(*def, !Catch::Contains("git clone"));
    c.spack.repo = "https://git.example.org/spack-repo.git";
    def = flow::render_singularity_def(c, spec, templates, build_dir);
    REQUIRE(def.has_value());
    CHECK_THAT(*def, !Catch::Contains("%files\n  "));
    CHECK_THAT(*def, Catch::Contains("git clone --quiet https://git.example.org/spack-repo.git "
                                     "/opt/spack-repo\n") &&
                         Catch::Contains("checkout --quiet @SPACK_REPO_COMMIT@\n"));
  }
}
