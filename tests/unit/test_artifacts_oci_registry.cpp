#include "artifacts/registry/oci_registry.hpp"
#include "support/http_test_server.hpp"
#include "support/specs.hpp"
#include "support/temp_dir.hpp"
#include "util/sha256.hpp"

#include <map>
#include <mutex>

#include <catch2/catch.hpp>

using namespace softpack;
using namespace softpack::artifacts;
using softpack::testing::HttpTestServer;
using softpack::testing::TempDir;
using softpack::testing::TestRequest;
using softpack::testing::TestResponse;

namespace {

// Not validated: the registry's own name rules are tested on names softpack would refuse too.
spec::EnvironmentSpec env(std::string path, std::string name, std::string version) {
  spec::EnvironmentSpec s;
  s.path = std::move(path);
  s.name = std::move(name);
  s.version = std::move(version);
  s.packages = {{"xxhash", "0.8.1"}};
  return s;
}

const std::string k_empty_config_digest =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

// A registry speaking the part of the OCI distribution API the publisher uses, strict about
// what it checks: the digest of every uploaded blob, the manifest's media type. With `auth`
// "bearer" or "basic", /v2/ wants a token (from /token, for alice:s3cret) or Basic
// credentials, and answers 401 with the matching challenge.
class MiniRegistry {
public:
  explicit MiniRegistry(std::string auth = "")
      : m_auth(std::move(auth)), m_server([this](const TestRequest& r) { return answer(r); }) {}

  std::string url() const { return m_server.url(); }
  std::vector<TestRequest> requests() const { return m_server.requests(); }
  std::map<std::string, std::string> blobs() const {
    std::lock_guard lock(m_mutex);
    return m_blobs;
  }
  std::map<std::string, std::string> manifests() const {
    std::lock_guard lock(m_mutex);
    return m_manifests;
  }
  int count(const std::string& method, const std::string& prefix) const {
    int n = 0;
    for (const auto& r : requests()) {
      n += (r.method == method && r.target.starts_with(prefix)) ? 1 : 0;
    }
    return n;
  }

private:
  TestResponse answer(const TestRequest& r) {
    std::lock_guard lock(m_mutex);
    const std::string basic = "Basic YWxpY2U6czNjcmV0"; // alice:s3cret
    if (r.target.starts_with("/token?")) {
      if (r.header("authorization") != basic) {
        return {401, {}, R"({"errors":[{"code":"UNAUTHORIZED"}]})"};
      }
      return {200, {{"Content-Type", "application/json"}}, R"({"token":"tok123"})"};
    }
    if (m_auth == "bearer" && r.header("authorization") != "Bearer tok123") {
      return {401,
              {{"WWW-Authenticate", "Bearer realm=\"" + url() +
                                        "/token\",service=\"mini\",scope=\"repository:softpack/"
                                        "users-alice/my-env:pull,push\""}},
              R"({"errors":[{"code":"UNAUTHORIZED"}]})"};
    }
    if (m_auth == "basic" && r.header("authorization") != basic) {
      return {401, {{"WWW-Authenticate", "Basic realm=\"mini\""}}, "{}"};
    }
    const std::string prefix = "/v2/softpack/users-alice/my-env/";
    if (!r.target.starts_with(prefix)) {
      return {404, {}, R"({"errors":[{"code":"NAME_UNKNOWN"}]})"};
    }
    const std::string rest = r.target.substr(prefix.size());
    if (r.method == "HEAD" && rest.starts_with("blobs/sha256:")) {
      const bool known = m_blobs.count(rest.substr(6)) > 0;
      return {known ? 200 : 404, {{"Content-Length", "0"}}, ""};
    }
    if (r.method == "POST" && rest == "blobs/uploads/") {
      const std::string id = std::to_string(++m_uploads);
      return {202, {{"Location", prefix + "blobs/uploads/" + id + "?_state=abc"}}, ""};
    }
    if (r.method == "PUT" && rest.starts_with("blobs/uploads/")) {
      const auto d = r.target.find("&digest=sha256%3A");
      if (d == std::string::npos || r.target.find("?_state=abc") == std::string::npos) {
        return {400, {}, R"({"errors":[{"code":"DIGEST_INVALID"}]})"};
      }
      const std::string digest = "sha256:" + r.target.substr(d + 17);
      if (digest != "sha256:" + sha256_hex(r.body)) {
        return {400, {}, R"({"errors":[{"code":"DIGEST_INVALID"}]})"};
      }
      m_blobs[digest] = r.body;
      return {201, {{"Location", prefix + "blobs/" + digest}}, ""};
    }
    if (r.method == "PUT" && rest.starts_with("manifests/")) {
      if (r.header("content-type") != "application/vnd.oci.image.manifest.v1+json") {
        return {400, {}, R"({"errors":[{"code":"MANIFEST_INVALID"}]})"};
      }
      m_manifests[rest.substr(10)] = r.body;
      return {201, {{"Docker-Content-Digest", "sha256:" + sha256_hex(r.body)}}, ""};
    }
    return {405, {}, ""};
  }

  std::string m_auth;
  mutable std::mutex m_mutex;
  std::map<std::string, std::string> m_blobs;
  std::map<std::string, std::string> m_manifests;
  int m_uploads = 0;
  HttpTestServer m_server;
};

PublishRequest request_for(const TempDir& t, const std::string& image) {
  t.write("out/singularity.sif", image);
  PublishRequest r;
  r.spec = testing::valid_spec(env("users/alice", "my-env", "1"));
  r.build_id = "20261201-000000-abcd";
  r.success = true;
  r.out_dir = t / "out";
  return r;
}

} // namespace

TEST_CASE("registry: URLs, repository names and tags", "[artifacts][registry]") {
  SECTION("a URL with a namespace") {
    auto loc = parse_registry_url("https://registry.example.org:5000/softpack/images/");
    REQUIRE(loc);
    CHECK(loc->base == "https://registry.example.org:5000");
    CHECK(loc->host == "registry.example.org:5000");
    CHECK(loc->name_prefix == "softpack/images");
  }
  SECTION("a URL without one") {
    auto loc = parse_registry_url("http://127.0.0.1:5000");
    REQUIRE(loc);
    CHECK(loc->base == "http://127.0.0.1:5000");
    CHECK(loc->name_prefix.empty());
  }
  SECTION("bad URLs are config errors naming registry.url") {
    for (const char* url : {"ftp://h/x", "registry.example.org", "https://u:p@h/x",
                            "https://h/Soft_Pack", "https://h/a?x=1", "https://h/a//b"}) {
      auto loc = parse_registry_url(url);
      INFO(url);
      REQUIRE_FALSE(loc);
      CHECK(loc.error().kind == ErrorKind::config);
      CHECK(loc.error().context == "registry.url");
    }
    // The password is never echoed... but the URL is; credentials in it are refused upstream by
    // config, and here the message names the rule.
    CHECK_THAT(parse_registry_url("https://u:p@h/x").error().message,
               Catch::Contains("registry.credentials_file"));
  }
  SECTION("repository names are lowercased, the path's slash becomes a dash") {
    auto r = registry_repository("softpack", env("users/Alice", "My-Env", "1"));
    REQUIRE(r);
    CHECK(*r == "softpack/users-alice/my-env");
    CHECK(*registry_repository("", env("groups/hgi", "py_tools.x", "1")) ==
          "groups-hgi/py_tools.x");
    CHECK(*registry_repository("", env("groups/hgi", "a__b--c", "1")) == "groups-hgi/a__b--c");
  }
  SECTION("names the grammar refuses are invalid input naming the field") {
    for (const char* name : {"_env", "env_", "a..b", "a___b", "-env", "env.", ".env"}) {
      auto r = registry_repository("", env("users/alice", name, "1"));
      INFO(name);
      REQUIRE_FALSE(r);
      CHECK(r.error().kind == ErrorKind::invalid_input);
      CHECK(r.error().context == "name");
      CHECK_THAT(r.error().message, Catch::Contains(name));
    }
    auto p = registry_repository("", env("users/_alice", "env", "1"));
    REQUIRE_FALSE(p);
    CHECK(p.error().context == "path");
    auto long_name =
        registry_repository(std::string(200, 'n'), env("users/a", std::string(60, 'x'), "1"));
    REQUIRE_FALSE(long_name);
    CHECK_THAT(long_name.error().message, Catch::Contains("longer than 255"));
  }
  SECTION("tags") {
    CHECK(*registry_tag(env("users/a", "e", "1.0_rc-2")) == "1.0_rc-2");
    CHECK(*registry_tag(env("users/a", "e", "_1")) == "_1");
    for (const char* v : {".1", "-1", ""}) {
      auto t = registry_tag(env("users/a", "e", v));
      INFO(v);
      REQUIRE_FALSE(t);
      CHECK(t.error().context == "version");
    }
    CHECK_FALSE(registry_tag(env("users/a", "e", std::string(129, '1'))));
    CHECK(registry_tag(env("users/a", "e", std::string(128, '1'))));
  }
}

TEST_CASE("registry: the manifest Apptainer's oras:// reads", "[artifacts][registry]") {
  const BlobRef config{k_empty_config_digest, 2};
  const BlobRef layer{"sha256:" + std::string(64, 'a'), 1234};
  CHECK(sif_manifest_json(config, layer, "singularity.sif") ==
        R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
        R"("config":{"mediaType":"application/vnd.sylabs.sif.config.v1+json",)"
        R"("digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",)"
        R"("size":2},"layers":[{"mediaType":"application/vnd.sylabs.sif.layer.v1.sif",)"
        R"("digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",)"
        R"("size":1234,"annotations":{"org.opencontainers.image.title":"singularity.sif"}}]})");
  CHECK_THAT(sif_manifest_json(config, layer, "a\"b"), Catch::Contains(R"("a\"b")"));
}

TEST_CASE("registry: WWW-Authenticate challenges and token answers", "[artifacts][registry]") {
  SECTION("Docker Hub's form") {
    auto c = parse_www_authenticate(
        R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
        R"(scope="repository:samalba/my-app:pull,push")");
    REQUIRE(c);
    CHECK(c->scheme == "bearer");
    CHECK(c->realm == "https://auth.docker.io/token");
    CHECK(c->service == "registry.docker.io");
    CHECK(c->scope == "repository:samalba/my-app:pull,push");
  }
  SECTION("spaces, unquoted values, escapes, a second challenge ignored") {
    auto c = parse_www_authenticate(
        R"(bearer  realm = "https://a/t\"x" , service=svc, Basic realm="other")");
    REQUIRE(c);
    CHECK(c->realm == "https://a/t\"x");
    CHECK(c->service == "svc");
    CHECK(c->scope.empty());
    auto b = parse_www_authenticate(R"(Basic realm="Registry Realm")");
    REQUIRE(b);
    CHECK(b->scheme == "basic");
  }
  SECTION("malformed") {
    for (const char* h : {"", "Bearer service=\"x\"", "Bearer realm=\"unclosed", "Bearer =x"}) {
      INFO(h);
      CHECK_FALSE(parse_www_authenticate(h));
    }
  }
  SECTION("token answers") {
    CHECK(*parse_token_response(R"({"token":"abc","expires_in":300})") == "abc");
    CHECK(*parse_token_response(R"({"access_token":"xyz"})") == "xyz");
    CHECK_FALSE(parse_token_response(R"({"token":""})"));
    CHECK_FALSE(parse_token_response("<html>"));
  }
}

TEST_CASE("registry: file digests are read in chunks", "[artifacts][registry]") {
  TempDir t;
  std::string data;
  for (int i = 0; data.size() < 3u * 1024 * 1024 + 17; ++i) {
    data += std::to_string(i) + "\n";
  }
  const auto blob = file_blob(t.write("big.sif", data));
  REQUIRE(blob);
  CHECK(blob->digest == "sha256:" + sha256_hex(data));
  CHECK(blob->size == data.size());
  CHECK(file_blob(t / "missing.sif").error().kind == ErrorKind::io);
}

TEST_CASE("registry: pushing an image over HTTP", "[artifacts][registry]") {
  TempDir t;
  const std::string image = "SIF image bytes\n" + std::string(2u * 1024 * 1024, 'x');

  SECTION("anonymous: config blob, the layer streamed, the manifest tagged with the version") {
    MiniRegistry registry;
    RegistryPublisher publisher(
        RegistryOptions{registry.url() + "/softpack", "", "", "", std::chrono::seconds(10), ""});
    auto r = publisher.publish(request_for(t, image));
    REQUIRE(r);
    const auto blobs = registry.blobs();
    REQUIRE(blobs.size() == 2);
    CHECK(blobs.at(k_empty_config_digest) == "{}");
    const std::string layer_digest = "sha256:" + sha256_hex(image);
    CHECK(blobs.at(layer_digest) == image);
    const auto manifest = registry.manifests().at("1");
    CHECK(manifest == sif_manifest_json({k_empty_config_digest, 2}, {layer_digest, image.size()},
                                        "singularity.sif"));
    const std::string host = registry.url().substr(7);
    CHECK(r->destination == "registry oras://" + host + "/softpack/users-alice/my-env:1");
    CHECK(r->reference == host + "/softpack/users-alice/my-env:1@sha256:" + sha256_hex(manifest));

    SECTION("publishing again uploads no blob (HEAD finds them) and gives the same digest") {
      const int posts = registry.count("POST", "/v2/");
      auto again = publisher.publish(request_for(t, image));
      REQUIRE(again);
      CHECK(again->reference == r->reference);
      CHECK(registry.count("POST", "/v2/") == posts);
      CHECK(registry.count("HEAD", "/v2/") == 4);
    }
  }
  SECTION("the Bearer token flow, with the credentials only at the token server") {
    MiniRegistry registry("bearer");
    RegistryPublisher publisher(RegistryOptions{registry.url() + "/softpack", "alice", "s3cret", "",
                                                std::chrono::seconds(10), ""});
    auto r = publisher.publish(request_for(t, image));
    REQUIRE(r);
    CHECK(registry.manifests().count("1") == 1);
    int token_requests = 0;
    for (const auto& req : registry.requests()) {
      if (req.target.starts_with("/token?")) {
        ++token_requests;
        CHECK(
            req.target ==
            "/token?service=mini&scope=repository%3Asoftpack%2Fusers-alice%2Fmy-env%3Apull%2Cpush");
      } else if (req.header("authorization").starts_with("Basic")) {
        FAIL("credentials sent to the registry itself: " + req.method + " " + req.target);
      }
    }
    CHECK(token_requests == 1); // the token is kept for the whole push
  }
  SECTION("wrong credentials: a config error that never shows the password") {
    MiniRegistry registry("bearer");
    RegistryPublisher publisher(RegistryOptions{registry.url() + "/softpack", "alice", "wrong-pw",
                                                "", std::chrono::seconds(10), ""});
    auto r = publisher.publish(request_for(t, image));
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::config);
    CHECK_THAT(r.error().describe(), Catch::Contains("HTTP 401"));
    CHECK_THAT(r.error().describe(), !Catch::Contains("wrong-pw"));
    CHECK(registry.manifests().empty());
  }
  SECTION("Basic authentication") {
    MiniRegistry registry("basic");
    RegistryPublisher with(RegistryOptions{registry.url() + "/softpack", "alice", "s3cret", "",
                                           std::chrono::seconds(10), ""});
    REQUIRE(with.publish(request_for(t, image)));
    CHECK(registry.manifests().count("1") == 1);

    RegistryPublisher without(
        RegistryOptions{registry.url() + "/softpack", "", "", "", std::chrono::seconds(10), ""});
    auto r = without.publish(request_for(t, image));
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("none are configured"));
  }
  SECTION("a registry that is down is a transient error (retried by the flow)") {
    std::string url;
    {
      MiniRegistry gone;
      url = gone.url();
    }
    RegistryPublisher publisher(
        RegistryOptions{url + "/softpack", "", "", "", std::chrono::seconds(5), ""});
    auto r = publisher.publish(request_for(t, image));
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::transient);
    CHECK_THAT(r.error().context, Catch::Contains(url));
  }
  SECTION("a missing image is an io error naming it") {
    MiniRegistry registry;
    RegistryPublisher publisher(
        RegistryOptions{registry.url() + "/softpack", "", "", "", std::chrono::seconds(5), ""});
    auto req = request_for(t, image);
    std::filesystem::remove(req.out_dir / "singularity.sif");
    auto r = publisher.publish(req);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::io);
    CHECK_THAT(r.error().context, Catch::EndsWith("singularity.sif"));
  }
  SECTION("a name the registry cannot take is refused for good (invalid input)") {
    MiniRegistry registry;
    RegistryPublisher publisher(
        RegistryOptions{registry.url() + "/softpack", "", "", "", std::chrono::seconds(5), ""});
    auto req = request_for(t, image);
    req.spec = testing::valid_spec("users/alice", "my--_env");
    auto r = publisher.publish(req);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::invalid_input);
    CHECK(registry.requests().empty());
  }
}
