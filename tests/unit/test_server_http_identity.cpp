// The listener's part of identity: the Unix socket (its file, SO_PEERCRED) and MUNGE
// credentials on TCP, resolved off the io thread before the handler runs. The client side is
// util/http_client's unix_socket and cli::ServiceClient.

#include "auth/binding.hpp"
#include "cli/service_client.hpp"
#include "server/http_server.hpp"
#include "support/fake_service.hpp"
#include "support/temp_dir.hpp"

#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace softpack;
using namespace softpack::server;
using softpack::testing::FakeService;
using namespace std::chrono_literals;

namespace {

const std::uint32_t k_uid = ::getuid();

// This process's user as "tester", and nobody else.
class OneAccount final : public auth::Accounts {
public:
  Expected<auth::Account> by_uid(std::uint32_t uid) override {
    ++lookups;
    if (uid != k_uid) {
      return make_error(ErrorKind::not_found, "no account");
    }
    return auth::Account{"tester", uid, 100, {"tester", "testers"}};
  }
  std::atomic<int> lookups{0};
};

// Credentials are "MUNGE:<n>:"; each decodes once, as munged replays are refused.
class TableCodec final : public auth::MungeCodec {
public:
  Expected<std::string> encode(std::string_view payload, int) override {
    std::lock_guard lock(m_mutex);
    const std::string cred = "MUNGE:" + std::to_string(m_made.size()) + ":";
    m_made[cred] = std::string(payload);
    return cred;
  }
  auth::MungeDecoded decode(const std::string& credential) override {
    std::lock_guard lock(m_mutex);
    auth::MungeDecoded d;
    auto it = m_made.find(credential);
    if (it == m_made.end()) {
      d.status = auth::MungeStatus::invalid;
      return d;
    }
    d.status =
        m_used.insert(credential).second ? auth::MungeStatus::ok : auth::MungeStatus::replayed;
    d.payload = it->second;
    d.uid = k_uid;
    d.gid = 100;
    return d;
  }

private:
  std::mutex m_mutex;
  std::map<std::string, std::string> m_made;
  std::set<std::string> m_used;
};

class IdentityServer {
public:
  explicit IdentityServer(const std::filesystem::path& socket, bool munge = true)
      : accounts(std::make_shared<OneAccount>()), codec(std::make_shared<TableCodec>()),
        m_server(m_io, service, options(socket, munge)) {}
  ~IdentityServer() {
    if (m_thread.joinable()) {
      m_server.stop();
      m_thread.join();
    }
  }
  Expected<void> start() {
    auto started = m_server.start();
    if (started) {
      m_thread = std::thread([this] { m_io.run(); });
    }
    return started;
  }
  void stop() {
    m_server.stop();
    m_thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_server.port()); }

  std::shared_ptr<OneAccount> accounts;
  std::shared_ptr<TableCodec> codec;
  FakeService service;

private:
  ServerOptions options(const std::filesystem::path& socket, bool munge) {
    ServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.read_timeout = 5s;
    o.write_timeout = 5s;
    o.socket_path = socket.string();
    o.handler.identity = true;
    o.handler.munge = munge;
    o.handler.socket_path = socket.string();
    o.handler.core_clients.clear();
    o.accounts = accounts;
    if (munge) {
      o.munge = codec;
    }
    return o;
  }
  boost::asio::io_context m_io;
  HttpServer m_server;
  std::thread m_thread;
};

config::Config client_config() {
  config::Config c;
  c.server.munge_ttl = 60s;
  return c;
}

const std::string k_body = R"({"name": "users/tester/e", "version": "1",
  "model": {"description": "d", "packages": [{"name": "xxhash"}]}})";

std::string requested_by(const HttpResponse& r) {
  auto v = boost::json::parse(r.body);
  return std::string(v.at("requested_by").at("name").as_string());
}

// A socket file nobody accepts on (as a killed service leaves it).
void make_stale_socket(const std::filesystem::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.string().copy(addr.sun_path, path.string().size());
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  ::close(fd);
}

} // namespace

TEST_CASE("http identity: a caller on the socket is who the kernel says", "[http][identity]") {
  testing::TempDir t;
  const auto sock = t / "api.sock";
  IdentityServer server(sock);
  REQUIRE(server.start());
  struct stat st {};
  REQUIRE(::lstat(sock.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 07777) == 0666);

  cli::ServiceClient client(sock.string(), "", client_config());
  CHECK(client.identified_by() == "socket");
  auto built = client.request("POST", "/environments/build", k_body);
  REQUIRE(built);
  INFO(built->body);
  CHECK(built->status == 200);
  CHECK(requested_by(*built) == "tester");
  auto other = client.request("POST", "/environments/build",
                              R"({"name": "users/someone/e", "version": "1",
  "model": {"description": "d", "packages": [{"name": "xxhash"}]}})");
  REQUIRE(other);
  CHECK(other->status == 403);
  CHECK_THAT(other->body, Catch::Contains("users/someone"));
  auto read = client.request("GET", "/builds");
  REQUIRE(read);
  CHECK(read->status == 200);
  server.stop();
  REQUIRE(server.service.requesters.size() == 1);
  CHECK(server.service.requesters[0] ==
        auth::Requester{auth::Requester::Kind::user, "tester", k_uid});
  CHECK_FALSE(std::filesystem::exists(sock)); // removed on stop
}

TEST_CASE("http identity: MUNGE on TCP, one credential per request, bound to it",
          "[http][identity]") {
  testing::TempDir t;
  IdentityServer server(t / "api.sock");
  REQUIRE(server.start());
  cli::ServiceClient client(server.url(), "", client_config(), server.codec);
  CHECK(client.identified_by() == "MUNGE");
  auto built = client.request("POST", "/environments/build", k_body);
  REQUIRE(built);
  INFO(built->body);
  CHECK(built->status == 200);
  CHECK(requested_by(*built) == "tester");
  // A fresh credential for each request, so the polls work too.
  for (int i = 0; i < 3; ++i) {
    auto read = client.request("GET", "/builds/b-1");
    REQUIRE(read);
    CHECK(read->status != 401);
  }

  auto raw = [&](const std::string& authorization, const std::string& body) {
    HttpRequest r;
    r.method = "POST";
    r.url = server.url() + "/environments/build";
    r.body = body;
    r.headers.emplace_back("Authorization", authorization);
    auto answer = http_perform(r);
    REQUIRE(answer);
    return *answer;
  };
  SECTION("the same credential twice: replayed") {
    auto cred =
        server.codec->encode(auth::request_binding("POST", "/environments/build", k_body), 60);
    CHECK(raw("MUNGE " + *cred, k_body).status == 200);
    auto again = raw("MUNGE " + *cred, k_body);
    CHECK(again.status == 401);
    CHECK_THAT(again.body, Catch::Contains("already used"));
  }
  SECTION("a credential made for another body") {
    auto cred = server.codec->encode(
        auth::request_binding("POST", "/environments/build", k_body + " "), 60);
    auto moved = raw("MUNGE " + *cred, k_body);
    CHECK(moved.status == 401);
    CHECK_THAT(moved.body, Catch::Contains("another request"));
  }
  SECTION("a credential munged does not know") {
    auto forged = raw("MUNGE MUNGE:forged:", k_body);
    CHECK(forged.status == 401);
    CHECK_THAT(forged.body, Catch::Contains("invalid"));
  }
  SECTION("no credential") {
    HttpRequest r;
    r.method = "GET";
    r.url = server.url() + "/builds";
    auto answer = http_perform(r);
    REQUIRE(answer);
    CHECK(answer->status == 401);
    CHECK(answer->header("www-authenticate") != "");
  }
}

TEST_CASE("http identity: the socket file", "[http][identity]") {
  testing::TempDir t;
  const auto sock = t / "api.sock";
  SECTION("a stale socket is replaced") {
    make_stale_socket(sock);
    IdentityServer server(sock);
    REQUIRE(server.start());
    cli::ServiceClient client(sock.string(), "", client_config());
    auto r = client.request("GET", "/healthz");
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  SECTION("a live one is not taken over") {
    IdentityServer first(sock);
    REQUIRE(first.start());
    IdentityServer second(sock);
    auto r = second.start();
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::config);
    CHECK_THAT(r.error().describe(), Catch::Contains("another process is serving on it") &&
                                         Catch::Contains(sock.string()));
    // The first still serves.
    cli::ServiceClient client(sock.string(), "", client_config());
    auto ok = client.request("GET", "/healthz");
    REQUIRE(ok);
    CHECK(ok->status == 200);
  }
  SECTION("a file that is not a socket is left alone") {
    t.write("api.sock", "precious");
    IdentityServer server(sock);
    auto r = server.start();
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().describe(), Catch::Contains("exists and is not a socket"));
    CHECK(std::filesystem::is_regular_file(sock));
  }
  SECTION("a directory that does not exist") {
    IdentityServer server(t / "no-dir" / "api.sock");
    auto r = server.start();
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().describe(), Catch::Contains("does not exist"));
  }
}
