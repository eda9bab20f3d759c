#include "artifacts/install/install_publisher.hpp"
#include "support/specs.hpp"
#include "support/temp_dir.hpp"

#include <fstream>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

using namespace softpack;
using softpack::testing::TempDir;
namespace fs = std::filesystem;

namespace {

spec::ValidSpec env_spec() {
  spec::EnvironmentSpec s;
  s.path = "users/alice";
  s.name = "env";
  s.version = "1";
  s.packages = {{"xxhash", "0.8.1"}};
  return testing::valid_spec(std::move(s));
}

// What the module stage leaves in out/: the module file, wrappers and the image.
fs::path make_out(const TempDir& t, const std::string& tag) {
  const fs::path rel = "out-" + tag;
  t.write(rel / "module", "#%Module\n# module of " + tag + "\n");
  t.write(rel / "scripts" / "xxhsum", "#!/bin/bash\n# xxhsum of " + tag + "\n", 0700);
  t.write(rel / "scripts" / "xxh64sum", "#!/bin/bash\n# xxh64sum of " + tag + "\n", 0700);
  t.write(rel / "singularity.sif", "SIF_MAGIC image of " + tag + "\n", 0755);
  return t / rel;
}

unsigned mode_of(const fs::path& p) {
  struct stat st;
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

bool is_dir(const fs::path& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Every path under `root`, relative, with its content for files: what "nothing changed" means.
std::set<std::string> snapshot(const fs::path& root) {
  std::set<std::string> out;
  if (!fs::exists(root)) {
    return out;
  }
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    std::string line = fs::relative(e.path(), root).string();
    if (e.is_regular_file()) {
      std::ifstream in(e.path(), std::ios::binary);
      line += "=" + std::string(std::istreambuf_iterator<char>(in), {});
    }
    out.insert(line);
  }
  return out;
}

struct Install {
  TempDir t;
  artifacts::InstallPublisherOptions options{t / "site" / "modules",
                                             (t / "site" / "scripts").string()};
  artifacts::InstallPublisher publisher{options};
  fs::path module_file = t / "site/modules/users/alice/env/1";
  fs::path scripts = t / "site/scripts/users/alice/env/1-scripts";

  artifacts::PublishRequest request(const std::string& build_id, const std::string& tag) {
    return {env_spec(), build_id, true, make_out(t, tag)};
  }
};

// Restores the umask when the test ends.
struct Umask {
  mode_t old;
  explicit Umask(mode_t m) : old(::umask(m)) {}
  ~Umask() { ::umask(old); }
};

} // namespace

TEST_CASE("install: layout and modes", "[artifacts][install]") {
  Install in;
  CHECK(in.publisher.name() == "install");
  auto req = in.request("build-a", "a");
  Expected<artifacts::PublishResult> r = make_error(ErrorKind::internal, "not run");
  {
    Umask restrictive(077); // modes must not depend on the umask
    r = in.publisher.publish(req);
  }
  REQUIRE(r.has_value());
  CHECK(r->destination == "install " + (in.t / "site" / "modules").string());
  CHECK(r->reference == in.module_file.string());

  CHECK(in.t.read(in.module_file) == "#%Module\n# module of a\n");
  CHECK(mode_of(in.module_file) == 0644);
  CHECK(in.publisher.module_file(req.spec) == in.module_file);
  CHECK(in.publisher.scripts_dir(req.spec) == in.scripts);
  for (const char* dir : {"site/modules", "site/modules/users", "site/modules/users/alice",
                          "site/modules/users/alice/env", "site/scripts/users/alice/env",
                          "site/scripts/users/alice/env/1-scripts"}) {
    INFO(dir);
    CHECK(mode_of(in.t / dir) == 0755);
  }
  CHECK(snapshot(in.scripts) == std::set<std::string>{
                                    ".built_by_softpack=build-a\n",
                                    "singularity.sif=SIF_MAGIC image of a\n",
                                    "xxh64sum=#!/bin/bash\n# xxh64sum of a\n",
                                    "xxhsum=#!/bin/bash\n# xxhsum of a\n",
                                });
  CHECK(mode_of(in.scripts / "singularity.sif") == 0644);
  CHECK(mode_of(in.scripts / ".built_by_softpack") == 0644);
  CHECK(mode_of(in.scripts / "xxhsum") == 0755);
  CHECK(mode_of(in.scripts / "xxh64sum") == 0755);
  // Nothing temporary is left beside the install.
  std::set<std::string> siblings;
  for (const auto& e : fs::directory_iterator(in.t / "site/scripts/users/alice/env")) {
    siblings.insert(e.path().filename().string());
  }
  for (const auto& e : fs::directory_iterator(in.module_file.parent_path())) {
    siblings.insert(e.path().filename().string());
  }
  CHECK(siblings == std::set<std::string>{"1-scripts", "1"});

  SECTION("the image is a hard link to the build's, not a copy") {
    struct stat a, b;
    REQUIRE(::stat((req.out_dir / "singularity.sif").c_str(), &a) == 0);
    REQUIRE(::stat((in.scripts / "singularity.sif").c_str(), &b) == 0);
    CHECK(a.st_ino == b.st_ino);
  }

  SECTION("publishing the same build again changes nothing") {
    const auto before = snapshot(in.t / "site");
    auto again = in.publisher.publish(req);
    REQUIRE(again.has_value());
    CHECK(again->reference == r->reference);
    CHECK(snapshot(in.t / "site") == before);
  }

  SECTION("an environment without executables has no wrappers") {
    auto other = in.request("build-b", "b");
    other.spec = testing::valid_spec("users/alice", "bare");
    fs::remove_all(other.out_dir / "scripts");
    REQUIRE(in.publisher.publish(other).has_value());
    CHECK(snapshot(in.t / "site/scripts/users/alice/bare/1-scripts") ==
          std::set<std::string>{".built_by_softpack=build-b\n",
                                "singularity.sif=SIF_MAGIC image of b\n"});
  }
}

TEST_CASE("install: the image is copied when it cannot be linked", "[artifacts][install]") {
  // Hard links cannot cross filesystems: put out/ on /dev/shm when that is another one.
  struct stat shm, tmp;
  Install in;
  if (::stat("/dev/shm", &shm) != 0 || ::stat(in.t.path().c_str(), &tmp) != 0 ||
      shm.st_dev == tmp.st_dev || ::access("/dev/shm", W_OK) != 0) {
    WARN("skipped: /dev/shm is not a separate writable filesystem here");
    return;
  }
  std::string pattern = "/dev/shm/softpack-test-XXXXXX";
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  struct Cleanup {
    fs::path p;
    ~Cleanup() { fs::remove_all(p); }
  } cleanup{pattern};
  const fs::path out = pattern;
  fs::copy(make_out(in.t, "c"), out, fs::copy_options::recursive);
  // Bigger than one read/write buffer, with content that shows any misplaced block.
  std::string image;
  for (int i = 0; image.size() < (3u << 20) + 17; ++i) {
    image += "block " + std::to_string(i) + "\n";
  }
  {
    std::ofstream f(out / "singularity.sif", std::ios::binary | std::ios::trunc);
    f << image;
  }
  auto r = in.publisher.publish({env_spec(), "build-c", true, out});
  REQUIRE(r.has_value());
  struct stat a, b;
  REQUIRE(::stat((out / "singularity.sif").c_str(), &a) == 0);
  REQUIRE(::stat((in.scripts / "singularity.sif").c_str(), &b) == 0);
  CHECK(a.st_dev != b.st_dev);
  CHECK(in.t.read(in.scripts / "singularity.sif") == image);
  CHECK(mode_of(in.scripts / "singularity.sif") == 0644);
  CHECK(mode_of(in.scripts / "xxhsum") == 0755);
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(in.scripts)) {
    names.insert(e.path().filename().string());
  }
  CHECK(names ==
        std::set<std::string>{".built_by_softpack", "singularity.sif", "xxh64sum", "xxhsum"});
}

TEST_CASE("install: an existing install is never replaced", "[artifacts][install]") {
  Install in;

  SECTION("one from another build is refused and left as it was") {
    REQUIRE(in.publisher.publish(in.request("build-a", "a")).has_value());
    const auto before = snapshot(in.t / "site");
    auto r = in.publisher.publish(in.request("build-b", "b"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::invalid_input);
    CHECK(r.error().message == in.scripts.string() +
                                   " is already installed (by build build-a); remove it to "
                                   "reinstall");
    CHECK(snapshot(in.t / "site") == before);
  }

  SECTION("an empty directory in its place is not replaced") {
    fs::create_directories(in.scripts);
    const auto before = snapshot(in.t / "site");
    auto r = in.publisher.publish(in.request("build-a", "a"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::invalid_input);
    CHECK_THAT(r.error().message,
               Catch::Contains("1-scripts is already installed (not by softpack-builder)"));
    CHECK(snapshot(in.t / "site") == before);
    CHECK(fs::is_empty(in.scripts));
  }

  SECTION("a hand-made module file is refused before anything is made") {
    in.t.write(in.module_file, "#%Module\n# by hand\n");
    const auto before = snapshot(in.t / "site");
    auto r = in.publisher.publish(in.request("build-a", "a"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::invalid_input);
    CHECK_THAT(r.error().message,
               Catch::StartsWith(in.module_file.string() + " is already installed"));
    CHECK(snapshot(in.t / "site") == before);
    CHECK_FALSE(fs::exists(in.t / "site/scripts"));
  }

  SECTION("a module file changed since this build installed it is refused") {
    auto req = in.request("build-a", "a");
    REQUIRE(in.publisher.publish(req).has_value());
    in.t.write(in.module_file, "#%Module\n# edited by an admin\n");
    auto r = in.publisher.publish(req);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::invalid_input);
    CHECK_THAT(r.error().message, Catch::Contains("is already installed (not by build build-a)"));
    CHECK(in.t.read(in.module_file) == "#%Module\n# edited by an admin\n");
    CHECK(is_dir(in.scripts)); // this attempt did not make it, so it does not remove it
  }

  SECTION("a scripts directory with a marker of another build and no module file") {
    in.t.write(in.scripts / ".built_by_softpack", "build-z\n");
    auto r = in.publisher.publish(in.request("build-a", "a"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::invalid_input);
    CHECK_THAT(r.error().message, Catch::Contains("(by build build-z)"));
    CHECK_FALSE(fs::exists(in.module_file));
  }
}

TEST_CASE("install: a retry completes what an earlier attempt of the build left",
          "[artifacts][install]") {
  Install in;
  auto req = in.request("build-a", "a");

  SECTION("the scripts directory without the module file") {
    REQUIRE(in.publisher.publish(req).has_value());
    const auto complete = snapshot(in.t / "site");
    fs::remove(in.module_file);
    auto r = in.publisher.publish(req);
    REQUIRE(r.has_value());
    CHECK(snapshot(in.t / "site") == complete);
    CHECK(mode_of(in.module_file) == 0644);
  }

  SECTION("a scripts directory holding only the marker") {
    in.t.write(in.scripts / ".built_by_softpack", "build-a\n");
    auto r = in.publisher.publish(req);
    REQUIRE(r.has_value());
    CHECK(in.t.read(in.scripts / "xxhsum") == "#!/bin/bash\n# xxhsum of a\n");
    CHECK(mode_of(in.scripts / "xxhsum") == 0755);
    CHECK(in.t.read(in.scripts / "singularity.sif") == "SIF_MAGIC image of a\n");
    CHECK(in.t.read(in.module_file) == "#%Module\n# module of a\n");
  }

  SECTION("a staging directory and a temporary module file left by a crash") {
    in.t.write(in.scripts.parent_path() / ".1-scripts.tmp-build-a" / "xxhsum", "partial");
    in.t.write(in.module_file.parent_path() / ".1.tmp-build-a", "partial");
    auto r = in.publisher.publish(req);
    REQUIRE(r.has_value());
    CHECK(in.t.read(in.scripts / "xxhsum") == "#!/bin/bash\n# xxhsum of a\n");
    CHECK(in.t.read(in.module_file) == "#%Module\n# module of a\n");
    CHECK_FALSE(fs::exists(in.scripts.parent_path() / ".1-scripts.tmp-build-a"));
    CHECK_FALSE(fs::exists(in.module_file.parent_path() / ".1.tmp-build-a"));
  }
}

TEST_CASE("install: a failed attempt removes what it created", "[artifacts][install]") {
  TempDir t;
  // A regular file where a directory should be: fails for root too.
  t.write("site/not-a-dir", "");
  artifacts::InstallPublisher broken({t / "site/not-a-dir/modules", (t / "site/scripts").string()});
  artifacts::PublishRequest req{env_spec(), "build-a", true, make_out(t, "a")};
  const auto before = snapshot(t / "site");

  auto r = broken.publish(req);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == ErrorKind::io);
  CHECK_THAT(r.error().describe(), Catch::Contains("not-a-dir"));
  // The scripts directory was made before the module step failed; it and its new parents went.
  CHECK(snapshot(t / "site") == before);
  CHECK_FALSE(fs::exists(t / "site/scripts"));

  // Once the site is fixed, a retry of the same build installs cleanly.
  artifacts::InstallPublisher fixed({t / "site/modules", (t / "site/scripts").string()});
  auto again = fixed.publish(req);
  REQUIRE(again.has_value());
  CHECK(t.read(t / "site/scripts/users/alice/env/1-scripts/.built_by_softpack") == "build-a\n");
  CHECK(t.read(t / "site/modules/users/alice/env/1") == "#%Module\n# module of a\n");
}

TEST_CASE("install: a failed build has nothing to install", "[artifacts][install]") {
  Install in;
  CHECK_FALSE(in.publisher.publishes_failures());
  auto req = in.request("build-a", "a");
  req.success = false;
  auto r = in.publisher.publish(req);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == ErrorKind::invalid_input);
  CHECK_FALSE(fs::exists(in.t / "site"));
}

TEST_CASE("install: missing artifacts are errors naming them", "[artifacts][install]") {
  Install in;
  auto req = in.request("build-a", "a");
  SECTION("the image") {
    fs::remove(req.out_dir / "singularity.sif");
    auto r = in.publisher.publish(req);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::io);
    CHECK_THAT(r.error().describe(), Catch::Contains("singularity.sif"));
  }
  SECTION("the module file") {
    fs::remove(req.out_dir / "module");
    auto r = in.publisher.publish(req);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::io);
    CHECK_THAT(r.error().describe(), Catch::Contains("module"));
  }
  CHECK_FALSE(fs::exists(in.t / "site"));
}
