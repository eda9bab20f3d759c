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
  CHECK(push.user_username == "jsmith");
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
  CHECK(push.total_commits_count == 4);
}

TEST_CASE("gitlab: parse a branch deletion with a null checkout_sha and no commits", "[gitlab]") {
  const GitlabPush push = parse_ok(fixture("gitlab/push_branch_deleted.json"));
  CHECK(push.after == "0000000000000000000000000000000000000000");
  CHECK(push.checkout_sha.empty());
  CHECK(push.commits.empty());
  CHECK(is_zero_commit(push.after));
  CHECK_FALSE(is_zero_commit(push.before));
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

TEST_CASE("gitlab: before and after must be commit ids", "[gitlab]") {
  SECTION("not hex") {
    CHECK_THAT(parse_error(R"({"object_kind": "push", "after": "--upload-pack=evil"})"),
               Catch::Contains("after: expected a commit id") &&
                   Catch::Contains("--upload-pack=evil"));
  }
  SECTION("abbreviated") {
    CHECK_THAT(parse_error(R"({"object_kind": "push", "before": "95790bf8"})"),
               Catch::Contains("before: expected a commit id"));
  }
  SECTION("upper case") {
    CHECK_THAT(
        parse_error(
            R"({"object_kind": "push", "before": "95790BF891E76FEE5E1747AB589903A6A1F80F22"})"),
        Catch::Contains("before: expected a commit id"));
  }
  SECTION("SHA-256 ids are accepted") {
    const std::string id(64, 'a');
    const GitlabPush push = parse_ok(R"({"object_kind": "push", "after": ")" + id + "\"}");
    CHECK(push.after == id);
  }
  SECTION("total_commits_count") {
    CHECK_THAT(parse_error(R"({"object_kind": "push", "total_commits_count": -1})"),
               Catch::Contains("total_commits_count: expected a non-negative integer, got -1"));
    CHECK_THAT(parse_error(R"({"object_kind": "push", "total_commits_count": "21"})"),
               Catch::Contains("total_commits_count: expected a non-negative integer, got string"));
    CHECK(parse_ok(R"({"object_kind": "push", "total_commits_count": 21})").total_commits_count ==
          21);
  }
}

TEST_CASE("gitlab: commit ids", "[gitlab]") {
  CHECK(is_commit_id("95790bf891e76fee5e1747ab589903a6a1f80f22"));
  CHECK(is_commit_id(std::string(64, '0')));
  CHECK_FALSE(is_commit_id(""));
  CHECK_FALSE(is_commit_id("95790bf"));
  CHECK_FALSE(is_commit_id(std::string(41, 'a')));
  CHECK_FALSE(is_commit_id("95790bf891e76fee5e1747ab589903a6a1f80f2g"));
  CHECK(is_zero_commit("0000000000000000000000000000000000000000"));
  CHECK(is_zero_commit(std::string(64, '0')));
  CHECK_FALSE(is_zero_commit("0000000000000000000000000000000000000001"));
  CHECK_FALSE(is_zero_commit("000"));
}

TEST_CASE("gitlab: the delivery id is the Idempotency-Key, else X-Gitlab-Event-UUID", "[gitlab]") {
  const std::string key = "f5e5f430-f57b-4e6e-9fac-d9128cd7232f";
  const std::string uuid = "13792a34-cac6-4fda-95a8-c58e00a3954e";
  CHECK(delivery_id(&key, &uuid) == key);
  CHECK(delivery_id(nullptr, &uuid) == uuid);
  CHECK(delivery_id(&key, nullptr) == key);
  CHECK(delivery_id(nullptr, nullptr).empty());
  SECTION("unusable values count as absent") {
    const std::string empty;
    const std::string spaced = "a b";
    const std::string control = "a\x01"
                                "b";
    const std::string long_one(201, 'a');
    for (const auto* bad : {&empty, &spaced, &control, &long_one}) {
      CHECK(delivery_id(bad, &uuid) == uuid);
      CHECK(delivery_id(&key, bad) == key);
      CHECK(delivery_id(bad, bad).empty());
    }
    const std::string longest(200, 'a');
    CHECK(delivery_id(&longest, &uuid) == longest);
  }
}

TEST_CASE("gitlab: environment_of splits name and version at the last dash", "[gitlab]") {
  auto env = environment_of(k_env + "my-env-1/softpack.yml");
  REQUIRE(env);
  CHECK(env->path == "users/alice");
  CHECK(env->name == "my-env");
  CHECK(env->version == "1");
  CHECK(env->file == k_env + "my-env-1/softpack.yml");

  env = environment_of("environments/groups/hgi/tools-3.1/softpack.yml");
  REQUIRE(env);
  CHECK(env->path == "groups/hgi");
  CHECK(env->name == "tools");
  CHECK(env->version == "3.1");

  env = environment_of(k_env + "my-big-env-12/softpack.yml");
  REQUIRE(env);
  CHECK(env->name == "my-big-env");
  CHECK(env->version == "12");
}

TEST_CASE("gitlab: environment_of refuses what is not an environment's softpack.yml", "[gitlab]") {
  SECTION("outside environments/ or not the layout") {
    for (const char* file :
         {"softpack.yml", "users/alice/x-1/softpack.yml", "environments/users/alice/softpack.yml",
          "environments/users/alice/x-1/sub/softpack.yml",
          "environments/users/alice/x-1/softpack.yaml", "environments/users/alice/x-1/module",
          "environments/others/alice/x-1/softpack.yml",
          "/environments/users/alice/x-1/softpack.yml",
          "environments/users/alice/x-1/softpack.yml/"}) {
      INFO(file);
      CHECK_FALSE(environment_of(file));
    }
  }
  SECTION("names that fail validation") {
    for (const std::string& file :
         {k_env + "noversion/softpack.yml", k_env + "-1/softpack.yml", k_env + "x-/softpack.yml",
          k_env + "x;y-1/softpack.yml", k_env + "../softpack.yml",
          std::string("environments/users/../x-1/softpack.yml"),
          std::string("environments/users/a$b/x-1/softpack.yml"),
          std::string("environments/users//x-1/softpack.yml"), k_env + "x-1\n/softpack.yml",
          k_env + "x-./softpack.yml"}) {
      INFO(file);
      CHECK_FALSE(environment_of(file));
    }
  }
}
