#include "artifacts/git_reader.hpp"
#include "support/fake_command_runner.hpp"
#include "support/fixtures.hpp"
#include "support/temp_dir.hpp"
#include "util/command.hpp"
#include "util/text.hpp"

#include <catch2/catch.hpp>

using namespace softpack;
using softpack::testing::fixture;
using softpack::testing::TempDir;

namespace {

// git in a work tree; its trimmed stdout.
std::string git_in(const std::filesystem::path& dir, std::vector<std::string> args,
                   const std::string& email = "alice@example.org") {
  SystemCommandRunner runner;
  std::vector<std::string> argv{
      "git", "-C", dir.string(), "-c", "user.name=Someone", "-c", "user.email=" + email};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runner.run(argv, {});
  REQUIRE(r.has_value());
  INFO(describe_argv(argv) << ": " << r->err);
  REQUIRE(r->ok());
  return std::string(trim(r->out));
}

} // namespace

TEST_CASE("git reader: parse NUL-terminated names", "[artifacts][git_reader]") {
  auto names = artifacts::parse_name_list(fixture("gitlab/mirror_diff_tree_builder_user_merge.z"));
  REQUIRE(names);
  CHECK(*names == std::vector<std::string>{"environments/groups/hgi/b-2/odd\x1fname\nx",
                                           "environments/groups/hgi/b-2/softpack.yml",
                                           "environments/users/alice/a-1/module",
                                           "environments/users/alice/a-1/softpack.yml"});
  auto empty = artifacts::parse_name_list("");
  REQUIRE(empty);
  CHECK(empty->empty());
  auto cut = artifacts::parse_name_list(std::string("a\0b", 3));
  REQUIRE_FALSE(cut);
  CHECK_THAT(cut.error().describe(), Catch::Contains("NUL-terminated"));
}

TEST_CASE("git reader: parse a recorded git log -z with a merge, a trailer and an odd file name",
          "[artifacts][git_reader]") {
  auto commits =
      artifacts::parse_log(fixture("gitlab/mirror_log_builder_user_merge.z"), "environments/");
  INFO((commits ? std::string() : commits.error().describe()));
  REQUIRE(commits);
  REQUIRE(commits->size() == 3);
  const auto& merge = (*commits)[0];
  CHECK(merge.id == "3218371ee201ad4b90be85f23449c52f87960a73");
  CHECK(merge.author_email == "carol@example.org");
  CHECK(merge.message == "Merge branch 'side'\n");
  CHECK(merge.files.empty());
  const auto& builder = (*commits)[1];
  CHECK(builder.author_email == "softpack-builder@localhost");
  CHECK_THAT(builder.message, Catch::Contains("\nSoftpack-Build-Id: 20261201T100000Z-0000abcd\n"));
  CHECK(builder.files == std::vector<std::string>{"environments/users/alice/a-1/module",
                                                  "environments/users/alice/a-1/softpack.yml"});
  const auto& user = (*commits)[2];
  CHECK(user.author_email == "bob@example.org");
  // A message naming a file is not a file, and a file name with \x1f is not a commit.
  CHECK_THAT(user.message, Catch::Contains("mentions environments/users/alice/a-1/softpack.yml"));
  CHECK(user.files == std::vector<std::string>{"environments/groups/hgi/b-2/odd\x1fname\nx",
                                               "environments/groups/hgi/b-2/softpack.yml"});
}

TEST_CASE("git reader: git log output of another shape is an error naming the token",
          "[artifacts][git_reader]") {
  using namespace std::string_literals;
  SECTION("not NUL-terminated") {
    auto r = artifacts::parse_log("abc", "environments/");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().describe(), Catch::Contains("NUL-terminated"));
  }
  SECTION("a file before any commit") {
    auto r = artifacts::parse_log("environments/a\0"s, "environments/");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().describe(), Catch::Contains("a file before any commit"));
  }
  SECTION("a token that is neither") {
    auto r = artifacts::parse_log("3218371ee201ad4b90be85f23449c52f87960a73\x1f"
                                  "a@b\x1fm\n\0\nREADME\0"s,
                                  "environments/");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().describe(), Catch::Contains("README"));
  }
  SECTION("an abbreviated id") {
    auto r = artifacts::parse_log("3218371\x1f"
                                  "a@b\x1fm\n\0"s,
                                  "environments/");
    REQUIRE_FALSE(r);
  }
  SECTION("nothing") {
    auto r = artifacts::parse_log("", "environments/");
    REQUIRE(r);
    CHECK(r->empty());
  }
}

TEST_CASE("git reader: what a push changed, read from a real repository",
          "[artifacts][git_reader]") {
  TempDir dir;
  const auto remote = dir / "remote.git";
  const auto work = dir / "work";
  git_in(dir.path(), {"init", "--quiet", "--bare", "-b", "main", remote.string()});
  git_in(dir.path(), {"clone", "--quiet", remote.string(), work.string()});
  dir.write("work/environments/users/alice/a-1/softpack.yml", "packages: [hello]\n");
  git_in(work, {"add", "-A"});
  git_in(work, {"commit", "--quiet", "-m", "Add a-1"});
  git_in(work, {"push", "--quiet", "origin", "HEAD:main"});
  const std::string first = git_in(work, {"rev-parse", "HEAD"});
  for (int i = 1; i <= 3; ++i) {
    dir.write("work/environments/users/bob/b-" + std::to_string(i) + "/softpack.yml",
              "packages: [xxhash]\n");
    git_in(work, {"add", "-A"});
    git_in(work, {"commit", "--quiet", "-m", "Add b-" + std::to_string(i)});
  }
  git_in(work, {"rm", "--quiet", "environments/users/bob/b-2/softpack.yml"});
  git_in(work, {"commit", "--quiet", "-m", "Drop b-2"});
  git_in(work, {"push", "--quiet", "origin", "HEAD:main"});
  const std::string last = git_in(work, {"rev-parse", "HEAD"});

  SystemCommandRunner runner;
  artifacts::GitReader reader(runner, {remote.string(), dir / "mirror.git", {}, {}});
  REQUIRE(reader.fetch());
  CHECK(*reader.has_commit(last));
  CHECK_FALSE(*reader.has_commit(std::string(40, '1')));
  CHECK_FALSE(reader.has_commit("HEAD"));  // only full ids reach git
  CHECK_FALSE(reader.has_commit("--all")); // never an option

  auto changed = reader.changed_files(first, last, "environments/");
  REQUIRE(changed);
  // Net of the push: b-2 was added and removed again.
  CHECK(*changed == std::vector<std::string>{"environments/users/bob/b-1/softpack.yml",
                                             "environments/users/bob/b-3/softpack.yml"});
  auto everything = reader.changed_files(std::nullopt, last, "environments/");
  REQUIRE(everything);
  CHECK(everything->size() == 3);

  auto commits = reader.commits(first, last, "environments/");
  REQUIRE(commits);
  REQUIRE(commits->size() == 4);
  CHECK((*commits)[0].id == last);
  CHECK((*commits)[0].files == std::vector<std::string>{"environments/users/bob/b-2/softpack.yml"});
  CHECK((*commits)[3].message == "Add b-1\n");
  auto all = reader.commits(std::nullopt, last, "environments/");
  REQUIRE(all);
  CHECK(all->size() == 5);

  auto text = reader.read(last, "environments/users/bob/b-3/softpack.yml");
  REQUIRE(text);
  CHECK(*text == std::optional<std::string>("packages: [xxhash]\n"));
  auto gone = reader.read(last, "environments/users/bob/b-2/softpack.yml");
  REQUIRE(gone);
  CHECK_FALSE(gone->has_value());

  SECTION("an unreachable remote is an error naming the fetch") {
    artifacts::GitReader lost(runner, {(dir / "nowhere.git").string(), dir / "mirror.git", {}, {}});
    auto f = lost.fetch();
    REQUIRE_FALSE(f);
    CHECK_THAT(f.error().describe(), Catch::Contains("git fetch"));
  }
}

TEST_CASE("git reader: the remote is reached with the git destination's credentials, never a "
          "prompt",
          "[artifacts][git_reader]") {
  TempDir dir;
  testing::FakeCommandRunner runner;
  runner.respond_ok("git", "");
  artifacts::GitReader reader(runner,
                              {"https://gitlab.example.org/hgi/artifacts.git", dir / "mirror.git",
                               dir / "git-credentials", dir / "id_ed25519"});
  REQUIRE(reader.fetch());
  const auto calls = runner.recorded_calls();
  REQUIRE(calls.size() == 2); // init, fetch
  const auto& fetch = calls[1];
  const std::string argv = describe_argv(fetch.argv);
  CHECK_THAT(argv, Catch::Contains("credential.helper=") &&
                       Catch::Contains("credential-store --file=") &&
                       Catch::Contains((dir / "git-credentials").string()) &&
                       Catch::Contains("fetch --quiet --prune"));
  CHECK_THAT(fetch.options.env.at("GIT_SSH_COMMAND"),
             Catch::Contains("id_ed25519") && Catch::Contains("BatchMode=yes"));
  CHECK(fetch.options.env.at("GIT_TERMINAL_PROMPT") == "0");
  CHECK(fetch.options.env.at("GIT_ASKPASS").empty());
}
