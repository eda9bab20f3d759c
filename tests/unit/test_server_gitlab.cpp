#include "server/gitlab.hpp"
#include "support/fixtures.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

using namespace softpack;
using softpack::testing::fixture;
using namespace softpack::server;

namespace {

GitlabPush parse_ok(const std::string& body) {
  auto push = parse_push_hook(body);
  INFO((push ? std::string() : push.error().describe()));
  REQUIRE(push);
  return *push;
}

std::string parse_error(const std::string& body) {
  auto push = parse_push_hook(body);
  REQUIRE_FALSE(push);
  CHECK(push.error().kind == ErrorKind::invalid_input);
  return push.error().describe();
}

GitlabCommit commit(std::vector<std::string> added, std::vector<std::string> modified = {},
                    std::vector<std::string> removed = {}) {
  GitlabCommit c;
  c.id = "0123456789abcdef0123456789abcdef01234567";
  c.added = std::move(added);
  c.modified = std::move(modified);
  c.removed = std::move(removed);
  return c;
}

std::vector<std::string> files_of(const std::vector<ChangedEnvironment>& envs) {
  std::vector<std::string> out;
  for (const auto& e : envs) {
    out.push_back(e.file);
  }
  return out;
}

const std::string k_env = "environments/users/alice/";

} // namespace

TEST_CASE("gitlab: parse GitLab's documented Push Hook example", "[gitlab]") {
  const GitlabPush push = parse_ok(fixture("gitlab/push_documented_example.json"));
  CHECK(push.object_kind == "push");
  CHECK(push.ref == "refs/heads/master");
  CHECK(push.before == "95790bf891e76fee5e1747ab589903a6a1f80f22");
  CHECK(push.after == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
  CHECK(push.checkout_sha == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
  CHECK(push.project_path == "mike/diaspora");
  REQUIRE(push.commits.size() == 2);
  const GitlabCommit& first = push.commits[0];
  CHECK(first.id == "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327");
  CHECK(first.message == "Update Catalan translation to e38cb41.\n\nSee "
                         "https://gitlab.com/gitlab-org/gitlab for more information");
  CHECK(first.author_name == "Jordi Mallach");
  CHECK(first.author_email == "jordi@softcatala.org");
  CHECK(first.added == std::vector<std::string>{"CHANGELOG"});
  CHECK(first.modified == std::vector<std::string>{"app/controller/application.rb"});
  CHECK(first.removed.empty());
  CHECK(push.commits[1].author_email == "gitlabdev@dv6700.(none)");
  CHECK(changed_environments(push).empty());
}

TEST_CASE("gitlab: parse a branch deletion with a null checkout_sha and no commits", "[gitlab]") {
  const GitlabPush push = parse_ok(fixture("gitlab/push_branch_deleted.json"));
  CHECK(push.after == "0000000000000000000000000000000000000000");
  CHECK(push.checkout_sha.empty());
  CHECK(push.commits.empty());
  CHECK(changed_environments(push).empty());
}

TEST_CASE("gitlab: missing optional fields are tolerated", "[gitlab]") {
  SECTION("only object_kind") {
    const GitlabPush push = parse_ok(R"({"object_kind": "push"})");
    CHECK(push.ref.empty());
    CHECK(push.project_path.empty());
    CHECK(push.commits.empty());
  }
  SECTION("commits without file lists or author, as system hooks send them") {
    const GitlabPush push = parse_ok(
        R"({"object_kind": "push", "ref": "refs/heads/main", "project": {},
            "commits": [{"id": "abc", "message": "m"}, {"id": "def", "author": null,
                         "added": null}]})");
    REQUIRE(push.commits.size() == 2);
    CHECK(push.commits[0].author_name.empty());
    CHECK(push.commits[0].added.empty());
    CHECK(push.commits[1].id == "def");
  }
}

TEST_CASE("gitlab: errors name the JSON path", "[gitlab]") {
  SECTION("a tag push is not a push") {
    CHECK_THAT(parse_error(fixture("gitlab/tag_push_documented_example.json")),
               Catch::Contains("object_kind") && Catch::Contains("tag_push"));
  }
  SECTION("object_kind missing") {
    CHECK_THAT(parse_error(R"({"ref": "refs/heads/main"})"),
               Catch::Contains("object_kind: missing"));
  }
  SECTION("not JSON") {
    CHECK_THAT(parse_error("{\"object_kind\": "), Catch::Contains("not valid JSON"));
  }
  SECTION("not an object") {
    CHECK_THAT(parse_error("[]"), Catch::Contains("expected a JSON object, got array"));
  }
  SECTION("commits not an array") {
    CHECK_THAT(parse_error(R"({"object_kind": "push", "commits": {}})"),
               Catch::Contains("commits: expected an array, got object"));
  }
  SECTION("a file name that is not a string") {
    CHECK_THAT(
        parse_error(R"({"object_kind": "push", "commits": [{"id": "a"}, {"added": ["x", 7]}]})"),
        Catch::Contains("commits[1].added[1]: expected a string, got number"));
  }
  SECTION("an author email that is not a string") {
    CHECK_THAT(parse_error(R"({"object_kind": "push", "commits": [{"author": {"email": true}}]})"),
               Catch::Contains("commits[0].author.email: expected a string, got boolean"));
  }
  SECTION("project path of the wrong type") {
    CHECK_THAT(parse_error(R"({"object_kind": "push", "project": {"path_with_namespace": 1}})"),
               Catch::Contains("project.path_with_namespace"));
  }
  SECTION("nesting deeper than any GitLab payload") {
    std::string deep = R"({"object_kind": "push", "x": )";
    deep += std::string(100, '[') + std::string(100, ']') + "}";
    CHECK_THAT(parse_error(deep), Catch::Contains("not valid JSON"));
  }
}

TEST_CASE("gitlab: an added environment is found with name and version split at the last dash",
          "[gitlab]") {
  const auto envs = changed_environments(parse_ok(fixture("gitlab/push_environment_added.json")));
  REQUIRE(envs.size() == 1);
  CHECK(envs[0].path == "users/alice");
  CHECK(envs[0].name == "my-env");
  CHECK(envs[0].version == "1");
  CHECK(envs[0].file == k_env + "my-env-1/softpack.yml");
}

TEST_CASE("gitlab: an environment removed by a later commit of the push is dropped", "[gitlab]") {
  const auto envs =
      changed_environments(parse_ok(fixture("gitlab/push_environment_added_then_removed.json")));
  CHECK(files_of(envs) == std::vector<std::string>{k_env + "keep-1/softpack.yml"});
}

TEST_CASE("gitlab: a change to an environment's module only is ignored", "[gitlab]") {
  CHECK(changed_environments(parse_ok(fixture("gitlab/push_module_only.json"))).empty());
}

TEST_CASE("gitlab: changed_environments on crafted pushes", "[gitlab]") {
  GitlabPush push;
  push.object_kind = "push";

  SECTION("added and modified, in first-seen order, without duplicates") {
    push.commits = {commit({k_env + "b-2/softpack.yml"}, {k_env + "a-1/softpack.yml"}),
                    commit({}, {k_env + "b-2/softpack.yml", k_env + "a-1/softpack.yml"}),
                    commit({"environments/groups/hgi/tools-3.1/softpack.yml"})};
    const auto envs = changed_environments(push);
    CHECK(files_of(envs) ==
          std::vector<std::string>{k_env + "b-2/softpack.yml", k_env + "a-1/softpack.yml",
                                   "environments/groups/hgi/tools-3.1/softpack.yml"});
    REQUIRE(envs.size() == 3);
    CHECK(envs[2].path == "groups/hgi");
    CHECK(envs[2].name == "tools");
    CHECK(envs[2].version == "3.1");
  }
  SECTION("removed and then added again is built") {
    push.commits = {commit({}, {}, {k_env + "x-1/softpack.yml"}),
                    commit({k_env + "x-1/softpack.yml"})};
    CHECK(files_of(changed_environments(push)) ==
          std::vector<std::string>{k_env + "x-1/softpack.yml"});
  }
  SECTION("added then removed then modified again is built") {
    push.commits = {commit({k_env + "x-1/softpack.yml"}),
                    commit({}, {}, {k_env + "x-1/softpack.yml"}),
                    commit({}, {k_env + "x-1/softpack.yml"})};
    CHECK(changed_environments(push).size() == 1);
  }
  SECTION("removed only is nothing to build") {
    push.commits = {commit({}, {}, {k_env + "x-1/softpack.yml"})};
    CHECK(changed_environments(push).empty());
  }
  SECTION("outside environments/ or not the layout") {
    push.commits = {commit(
        {"softpack.yml", "users/alice/x-1/softpack.yml", "environments/users/alice/softpack.yml",
         "environments/users/alice/x-1/sub/softpack.yml",
         "environments/users/alice/x-1/softpack.yaml", "environments/others/alice/x-1/softpack.yml",
         "/environments/users/alice/x-1/softpack.yml",
         "environments/users/alice/x-1/softpack.yml/"})};
    CHECK(changed_environments(push).empty());
  }
  SECTION("names that fail validation") {
    push.commits = {
        commit({k_env + "noversion/softpack.yml", k_env + "-1/softpack.yml",
                k_env + "x-/softpack.yml", k_env + "x;y-1/softpack.yml", k_env + "../softpack.yml",
                "environments/users/../x-1/softpack.yml", "environments/users/a$b/x-1/softpack.yml",
                "environments/users//x-1/softpack.yml", k_env + "x-1\n/softpack.yml"})};
    CHECK(changed_environments(push).empty());
  }
  SECTION("a dashed name keeps its dashes; the last dash splits") {
    push.commits = {commit({k_env + "my-big-env-12/softpack.yml"})};
    const auto envs = changed_environments(push);
    REQUIRE(envs.size() == 1);
    CHECK(envs[0].name == "my-big-env");
    CHECK(envs[0].version == "12");
  }
}
