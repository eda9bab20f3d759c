#include "artifacts/core/core_upload.hpp"
#include "support/http_test_server.hpp"
#include "support/specs.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace softpack;
using namespace softpack::artifacts;
using softpack::testing::HttpTestServer;
using softpack::testing::MultipartPart;
using softpack::testing::split_multipart;
using softpack::testing::TempDir;
using softpack::testing::TestRequest;
using softpack::testing::TestResponse;

namespace {

PublishRequest request_for(const TempDir& t, bool success) {
  for (const auto& f : artifact_files(true)) {
    t.write("out/" + f, "contents of " + f + "\n");
  }
  PublishRequest r;
  r.spec = testing::valid_spec("users/alice", "my-env");
  r.build_id = "20261201-000000-abcd";
  r.success = success;
  r.out_dir = t / "out";
  return r;
}

// The multipart body of an upload, checked as softpack-core reads it: every part a form field
// named "file" with a filename; returns filename -> content.
// The filenames of an upload's parts, in the order sent.
std::vector<std::string> uploaded_names(const TestRequest& r) {
  const std::string type = r.header("content-type");
  std::vector<std::string> names;
  for (const MultipartPart& p : split_multipart(r.body, type.substr(type.find('=') + 1))) {
    const std::string disposition = p.headers.at("content-disposition");
    const auto start = disposition.find("filename=\"") + 10;
    names.push_back(disposition.substr(start, disposition.find('"', start) - start));
  }
  return names;
}

std::map<std::string, std::string> uploaded_files(const TestRequest& r) {
  const std::string type = r.header("content-type");
  REQUIRE_THAT(type, Catch::StartsWith("multipart/form-data; boundary="));
  const auto parts = split_multipart(r.body, type.substr(type.find('=') + 1));
  REQUIRE_FALSE(parts.empty());
  std::map<std::string, std::string> files;
  for (const MultipartPart& p : parts) {
    const std::string disposition = p.headers.at("content-disposition");
    REQUIRE_THAT(disposition, Catch::StartsWith("form-data; name=\"file\"; filename=\""));
    const auto start = disposition.find("filename=\"") + 10;
    files[disposition.substr(start, disposition.find('"', start) - start)] = p.content;
  }
  return files;
}

} // namespace

TEST_CASE("core: upload URL", "[artifacts][core]") {
  PublishRequest r;
  r.spec = testing::valid_spec("groups/hgi", "env", "2.0");
  CHECK(core_upload_url("http://core:8000/", r.spec) ==
        "http://core:8000/upload?groups/hgi/env-2.0");
  CHECK(core_upload_url("http://core:8000", r.spec) ==
        "http://core:8000/upload?groups/hgi/env-2.0");
}

TEST_CASE("core: a build's files uploaded as multipart/form-data", "[artifacts][core]") {
  TempDir t;
  HttpTestServer core([](const TestRequest&) { return TestResponse{200, {}, "ok"}; });
  CorePublisher publisher(CoreOptions{core.url(), std::chrono::seconds(10)});

  SECTION("a successful build: every artifact, by its basename") {
    auto r = publisher.publish(request_for(t, true));
    REQUIRE(r);
    const auto requests = core.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].method == "POST");
    CHECK(requests[0].target == "/upload?users/alice/my-env-1");
    const auto files = uploaded_files(requests[0]);
    REQUIRE(files.size() == artifact_files(true).size());
    for (const auto& f : artifact_files(true)) {
      CHECK(files.at(f) == "contents of " + f + "\n");
    }
    // softpack-core walks the files in order: builder.out marks the environment failed
    // (failure_reason "build"), module marks it ready and ends the walk. So module first.
    const auto names = uploaded_names(requests[0]);
    CHECK(names == artifact_files(true));
    const auto at = [&](const std::string& name) {
      return std::find(names.begin(), names.end(), name) - names.begin();
    };
    CHECK(at("module") < at("builder.out"));
    CHECK(r->reference == core.url() + "/upload?users/alice/my-env-1");
  }
  SECTION("a failed build: builder.out alone") {
    REQUIRE(publisher.publish(request_for(t, false)));
    const auto files = uploaded_files(core.requests().at(0));
    REQUIRE(files.size() == 1);
    CHECK(files.at("builder.out") == "contents of builder.out\n");
  }
  SECTION("a missing artifact is an io error, nothing sent") {
    auto req = request_for(t, true);
    std::filesystem::remove(req.out_dir / "spack.lock");
    auto r = publisher.publish(req);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::io);
    CHECK(core.requests().empty());
  }
}

TEST_CASE("core: errors are retried by the flow, and say why", "[artifacts][core]") {
  TempDir t;
  HttpTestServer core([](const TestRequest& r) {
    return TestResponse{r.target == "/resend-pending-builds" ? 200 : 500, {}, "database locked"};
  });
  auto r = CorePublisher(CoreOptions{core.url(), std::chrono::seconds(10)})
               .publish(request_for(t, true));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::transient);
  CHECK_THAT(r.error().describe(), Catch::Contains("HTTP 500: database locked"));

  REQUIRE(resend_pending_builds(CoreOptions{core.url() + "/", std::chrono::seconds(10)}));
  CHECK(core.requests().back().method == "POST");
  CHECK(core.requests().back().target == "/resend-pending-builds");

  std::string gone_url;
  {
    HttpTestServer gone([](const TestRequest&) { return TestResponse{}; });
    gone_url = gone.url();
  }
  auto down = resend_pending_builds(CoreOptions{gone_url, std::chrono::seconds(5)});
  REQUIRE_FALSE(down);
  CHECK(down.error().kind == ErrorKind::transient);
  CHECK_THAT(down.error().context, Catch::Contains(gone_url + "/resend-pending-builds"));
}

TEST_CASE("core: a refused upload whose files core already holds is published",
          "[artifacts][core]") {
  TempDir t;
  HttpTestServer core([](const TestRequest&) {
    return TestResponse{500, {}, "Internal Server Error"}; // core's answer to "No changes made"
  });
  const CoreOptions options{core.url(), std::chrono::seconds(10)};
  int asked = 0;
  auto has = [&](std::optional<std::string> answer) {
    return [&asked, answer](const PublishRequest&) -> Expected<std::optional<std::string>> {
      ++asked;
      return answer;
    };
  };
  auto r = CorePublisher(options, http_perform, has("0123abcd")).publish(request_for(t, true));
  REQUIRE(r);
  CHECK(asked == 1);
  r = CorePublisher(options, http_perform, has(std::nullopt)).publish(request_for(t, true));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::transient);
  auto unreadable = [](const PublishRequest&) -> Expected<std::optional<std::string>> {
    return make_error(ErrorKind::command, "fetch failed", "git fetch");
  };
  r = CorePublisher(options, http_perform, unreadable).publish(request_for(t, true));
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().describe(), Catch::Contains("HTTP 500") && Catch::Contains("fetch failed"));
}

TEST_CASE("core: the repository check compares every file of the upload", "[artifacts][core]") {
  TempDir t;
  const auto req = request_for(t, true);
  SystemCommandRunner runner;
  auto git = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "git");
    auto out = runner.run(args, {});
    REQUIRE(out);
    INFO(out->err);
    REQUIRE(out->ok());
  };
  const auto repo = t / "core.git";
  const auto work = t / "work";
  git({"init", "--quiet", "--bare", "--initial-branch=main", repo.string()});
  git({"clone", "--quiet", repo.string(), work.string()});
  const std::string dir = environment_dir(req.spec);
  for (const auto& f : artifact_files(true)) {
    t.write("work/" + dir + "/" + f, "contents of " + f + "\n");
  }
  t.write("work/" + dir + "/meta.yml", "tags: []\n"); // core's own file: not compared
  git({"-C", work.string(), "add", "-A"});
  git({"-C", work.string(), "-c", "user.name=core", "-c", "user.email=core@x", "commit", "--quiet",
       "-m", "upload"});
  git({"-C", work.string(), "push", "--quiet", "origin", "HEAD:main"});

  GitReaderOptions o;
  o.remote = repo.string();
  o.mirror_dir = t / "mirror.git";
  auto check = core_repository_check(runner, o, "main");
  auto same = check(req);
  REQUIRE(same);
  REQUIRE(same->has_value());
  CHECK((*same)->size() == 40);

  SECTION("one file differs: not there") {
    t.write("out/module", "another module\n");
    auto differs = check(req);
    REQUIRE(differs);
    CHECK_FALSE(differs->has_value());
  }
  SECTION("another branch, or none: not there") {
    auto other = core_repository_check(runner, o, "develop")(req);
    REQUIRE(other);
    CHECK_FALSE(other->has_value());
  }
}
