#include "artifacts/git_publisher.hpp"
#include "util/command.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"

#include <functional>
#include <unistd.h>

#include <catch2/catch.hpp>

using namespace softpack;

namespace {

struct Scratch {
  std::filesystem::path dir;
  Scratch() {
    char tmpl[] = "/tmp/softpack-git-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
  }
  ~Scratch() { std::filesystem::remove_all(dir); }
};

// The real runner, with a hook that runs once before the first `git push`.
class HookedRunner final : public CommandRunner {
public:
  std::function<void()> before_first_push;
  int pushes = 0;
  Expected<CommandResult> run(const std::vector<std::string>& argv,
                              const CommandOptions& options) override {
    if (std::find(argv.begin(), argv.end(), "push") != argv.end() && pushes++ == 0 &&
        before_first_push) {
      before_first_push();
    }
    return m_real.run(argv, options);
  }

private:
  SystemCommandRunner m_real;
};

std::string git_out(const std::vector<std::string>& args) {
  SystemCommandRunner runner;
  std::vector<std::string> argv{"git"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runner.run(argv, {});
  REQUIRE(r.has_value());
  INFO(describe_argv(argv) << ": " << r->err);
  REQUIRE(r->ok());
  return std::string(trim(r->out));
}

spec::EnvironmentSpec env(const std::string& name) {
  spec::EnvironmentSpec s;
  s.path = "users/alice";
  s.name = name;
  s.version = "1";
  s.packages = {{"xxhash", ""}};
  return s;
}

std::filesystem::path make_out_dir(const std::filesystem::path& root, const std::string& tag,
                                   bool success) {
  const auto out = root / ("out-" + tag);
  for (const auto& f : artifacts::artifact_files(success)) {
    REQUIRE(write_file_atomic(out / f, f + " of " + tag + "\n"));
  }
  return out;
}

} // namespace

TEST_CASE("git publisher: one commit per build in softpack-core's layout", "[artifacts][git]") {
  Scratch s;
  HookedRunner runner;
  artifacts::GitPublisherOptions o;
  o.remote = (s.dir / "remote.git").string();
  o.create_remote = true;
  o.mirror_dir = s.dir / "mirror.git";
  artifacts::GitPublisher publisher(runner, o);

  artifacts::PublishRequest req{env("first"), "build-1", true, make_out_dir(s.dir, "a", true)};
  auto r = publisher.publish(req);
  REQUIRE(r.has_value());
  CHECK(git_out({"-C", o.remote, "rev-parse", "main"}) == r->reference);
  CHECK(git_out({"-C", o.remote, "ls-tree", "-r", "--name-only", "main"}) ==
        "environments/users/alice/first-1/.built_by_softpack\n"
        "environments/users/alice/first-1/README.md\n"
        "environments/users/alice/first-1/builder.out\n"
        "environments/users/alice/first-1/module\n"
        "environments/users/alice/first-1/singularity.def\n"
        "environments/users/alice/first-1/softpack.yml\n"
        "environments/users/alice/first-1/spack.lock");
  const std::string message = git_out({"-C", o.remote, "log", "-1", "--format=%B", "main"});
  CHECK_THAT(message, Catch::Contains("users/alice/first-1"));
  CHECK_THAT(message, Catch::Contains("Softpack-Build-Id: build-1"));
  CHECK(git_out({"-C", o.remote, "log", "-1", "--format=%an <%ae>", "main"}) ==
        "softpack-builder <softpack-builder@localhost>");

  SECTION("publishing the same files again makes no second commit") {
    auto again = publisher.publish(req);
    REQUIRE(again.has_value());
    CHECK(again->reference == r->reference);
    CHECK(git_out({"-C", o.remote, "rev-list", "--count", "main"}) == "1");
  }

  SECTION("a second environment is a second commit on top") {
    artifacts::PublishRequest second{env("second"), "build-2", true,
                                     make_out_dir(s.dir, "b", true)};
    auto r2 = publisher.publish(second);
    REQUIRE(r2.has_value());
    CHECK(git_out({"-C", o.remote, "rev-list", "--count", "main"}) == "2");
    CHECK(git_out({"-C", o.remote, "rev-parse", "main^"}) == r->reference);
  }

  SECTION("a failed rebuild replaces the directory with builder.out alone") {
    artifacts::PublishRequest failed{env("first"), "build-3", false,
                                     make_out_dir(s.dir, "c", false)};
    auto r3 = publisher.publish(failed);
    REQUIRE(r3.has_value());
    CHECK(git_out({"-C", o.remote, "ls-tree", "-r", "--name-only", "main",
                   "environments/users/alice/first-1"}) ==
          "environments/users/alice/first-1/builder.out");
    CHECK(git_out({"-C", o.remote, "show", "main:environments/users/alice/first-1/builder.out"}) ==
          "builder.out of c");
  }
}

TEST_CASE("git publisher: a push rejected because someone else pushed is rebuilt on the new tip",
          "[artifacts][git]") {
  Scratch s;
  HookedRunner runner;
  artifacts::GitPublisherOptions o;
  o.remote = (s.dir / "remote.git").string();
  o.create_remote = true;
  o.mirror_dir = s.dir / "mirror.git";
  artifacts::GitPublisher publisher(runner, o);
  REQUIRE(publisher.publish({env("base"), "b0", true, make_out_dir(s.dir, "0", true)}));
  runner.pushes = 0;

  // Someone else pushes to the remote between our fetch and our push.
  runner.before_first_push = [&] {
    const auto clone = (s.dir / "other").string();
    git_out({"clone", "-q", o.remote, clone});
    REQUIRE(write_file_atomic(std::filesystem::path(clone) / "environments" / "users" / "bob" /
                                  "x-1" / "softpack.yml",
                              "description: by hand\n"));
    git_out({"-C", clone, "add", "-A"});
    git_out({"-C", clone, "-c", "user.name=Bob", "-c", "user.email=bob@example.org", "commit",
             "-qm", "hand-made"});
    git_out({"-C", clone, "push", "-q", "origin", "main"});
  };
  auto r = publisher.publish({env("mine"), "b1", true, make_out_dir(s.dir, "1", true)});
  REQUIRE(r.has_value());
  CHECK(runner.pushes == 2); // rejected once, then accepted
  CHECK(git_out({"-C", o.remote, "rev-list", "--count", "main"}) == "3");
  CHECK(git_out({"-C", o.remote, "log", "-1", "--format=%s", "main^"}) == "hand-made");
  // Both the other commit's file and ours are there.
  const std::string files = git_out({"-C", o.remote, "ls-tree", "-r", "--name-only", "main"});
  CHECK_THAT(files, Catch::Contains("environments/users/bob/x-1/softpack.yml"));
  CHECK_THAT(files, Catch::Contains("environments/users/alice/mine-1/module"));
}

TEST_CASE("git publisher: errors name the problem", "[artifacts][git]") {
  Scratch s;
  SystemCommandRunner runner;
  artifacts::GitPublisherOptions o;
  o.mirror_dir = s.dir / "mirror.git";
  SECTION("an unreachable remote") {
    o.remote = (s.dir / "missing.git").string();
    artifacts::GitPublisher publisher(runner, o);
    auto r = publisher.publish({env("x"), "b", true, make_out_dir(s.dir, "x", true)});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::command);
    CHECK_THAT(r.error().describe(), Catch::Contains("git ls-remote"));
  }
  SECTION("a missing artifact") {
    o.remote = (s.dir / "remote.git").string();
    o.create_remote = true;
    artifacts::GitPublisher publisher(runner, o);
    const auto out = make_out_dir(s.dir, "y", true);
    std::filesystem::remove(out / "module");
    auto r = publisher.publish({env("y"), "b", true, out});
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().describe(), Catch::Contains("module"));
  }
}
