#include "store/sqlite_store.hpp"
#include "store/store.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <catch2/catch.hpp>

using namespace softpack;
using softpack::store::BuildRecord;
using softpack::store::DestinationRecord;
using softpack::store::StageRecord;
using softpack::store::Store;
using softpack::testing::TempDir;

namespace {

StageRecord stage(std::string name, std::string state) {
  StageRecord s;
  s.name = std::move(name);
  s.job_name = "sp.users.alice.my-env-1." + s.name;
  s.scheduler = "slurm";
  s.state = std::move(state);
  return s;
}

// A build with every field set, stages with and without their optional fields.
BuildRecord full_build(std::string id, std::int64_t requested = 1700000000) {
  BuildRecord b;
  b.id = std::move(id);
  b.env_path = "users/alice";
  b.env_name = "my-env";
  b.env_version = "1";
  b.spec_json = R"({"name":"my-env","packages":["py-numpy@1.26"],"quote":"it's"})";
  b.spec_hash = "3f2a9c";
  b.state = "building";
  b.error = "stage 'build' exited 1; see \"log\"";
  b.build_dir = "/scratch/softpack/builds/" + b.id;
  b.published_ref = "refs/heads/main@abc123";
  b.cancel_requested = true;
  b.requested = requested;
  b.started = requested + 5;
  b.done = requested + 600;
  b.requester_kind = "user";
  b.requester_name = "alice";
  b.requester_uid = 1001;
  b.queue_reason = "waiting: alice has 2 builds in flight (server.max_builds_per_user: 2)";

  StageRecord concretize = stage("concretize", "completed");
  concretize.job_id = "4242";
  concretize.reason = "None";
  concretize.exit_code = 0;
  concretize.submitted = requested + 1;
  concretize.started = requested + 2;
  concretize.ended = requested + 60;
  StageRecord build = stage("build", "failed");
  build.job_id = "4243";
  build.reason = "NonZeroExitCode";
  build.exit_code = -9; // negative values survive
  build.submitted = requested + 61;
  build.started = requested + 62;
  build.ended = requested + 600;
  StageRecord publish = stage("publish", "submitting"); // no job id, no times, no exit code
  b.stages = {concretize, build, publish};
  DestinationRecord registry{"registry",   "published",     1,           "", "sha256:0123",
                             std::nullopt, requested + 601, std::nullopt};
  DestinationRecord git{
      "git",           "pending",      3, "git push: could not connect", "", requested + 602,
      requested + 700, requested + 760};
  b.destinations = {registry, git};
  return b;
}

// A fresh build with only the required fields and no stages.
BuildRecord bare_build(std::string id, std::int64_t requested, std::string state = "queued") {
  BuildRecord b;
  b.id = std::move(id);
  b.env_path = "users/bob";
  b.env_name = "e";
  b.env_version = "1";
  b.spec_json = "{}";
  b.spec_hash = "h";
  b.state = std::move(state);
  b.requested = requested;
  return b;
}

std::unique_ptr<Store> open_ok(const std::filesystem::path& path,
                               const store::SqliteOptions& options = {}) {
  auto s = store::open_sqlite(path, options);
  if (!s) {
    FAIL("open failed: " << s.error().describe());
  }
  return std::move(*s);
}

void save_ok(Store& s, const BuildRecord& b) {
  auto r = s.save(b);
  if (!r) {
    FAIL("save failed: " << r.error().describe());
  }
}

std::vector<std::string> ids(const std::vector<BuildRecord>& builds) {
  std::vector<std::string> out;
  for (const auto& b : builds) {
    out.push_back(b.id);
  }
  return out;
}

std::vector<std::string> stage_names(const BuildRecord& b) {
  std::vector<std::string> out;
  for (const auto& s : b.stages) {
    out.push_back(s.name);
  }
  return out;
}

// A child process running `sqlite3 <db> <commands...>`, waited for on destruction.
class Sqlite3Cli {
public:
  explicit Sqlite3Cli(std::vector<std::string> argv) {
    argv.insert(argv.begin(), "sqlite3");
    m_pid = ::fork();
    if (m_pid == 0) {
      std::vector<char*> args;
      for (auto& a : argv) {
        args.push_back(a.data());
      }
      args.push_back(nullptr);
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, STDOUT_FILENO);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Sqlite3Cli() { wait(); }
  Sqlite3Cli(const Sqlite3Cli&) = delete;
  Sqlite3Cli& operator=(const Sqlite3Cli&) = delete;
  int wait() {
    if (m_pid > 0) {
      int status = 0;
      ::waitpid(m_pid, &status, 0);
      m_pid = -1;
      m_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    }
    return m_status;
  }

private:
  pid_t m_pid = -1;
  int m_status = -1;
};

bool have_sqlite3_cli() {
  Sqlite3Cli cli({"-version"});
  return cli.wait() == 0;
}

bool wait_for_file(const std::filesystem::path& p, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!std::filesystem::exists(p)) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// A tmpfs mounted on a directory for the lifetime of the object (needs CAP_SYS_ADMIN).
class TinyFilesystem {
public:
  TinyFilesystem(const std::filesystem::path& dir, const char* options) : m_dir(dir) {
    std::filesystem::create_directories(dir);
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options) == 0) {
      m_mounted = true;
    } else {
      m_error = std::strerror(errno);
    }
  }
  ~TinyFilesystem() {
    if (m_mounted) {
      ::umount2(m_dir.c_str(), MNT_DETACH);
    }
  }
  TinyFilesystem(const TinyFilesystem&) = delete;
  TinyFilesystem& operator=(const TinyFilesystem&) = delete;
  bool mounted() const { return m_mounted; }
  const std::string& error() const { return m_error; }

private:
  std::filesystem::path m_dir;
  bool m_mounted = false;
  std::string m_error;
};

// Writes zeros to `path` until the filesystem refuses (ENOSPC); returns the bytes written.
std::size_t fill_filesystem(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  std::vector<char> block(4096, 0);
  std::size_t total = 0;
  for (;;) {
    const ssize_t n = ::write(fd, block.data(), block.size());
    if (n <= 0) {
      break;
    }
    total += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return total;
}

} // namespace

TEST_CASE("store: a saved build reads back equal", "[store]") {
  TempDir dir;
  auto s = open_ok(dir / "softpack.db");

  SECTION("every field set, stages with and without optional fields") {
    const BuildRecord b = full_build("b1");
    save_ok(*s, b);
    auto got = s->get("b1");
    REQUIRE(got);
    REQUIRE(got->has_value());
    CHECK(**got == b);
    CHECK_FALSE(got->value().stages[2].exit_code.has_value());
    CHECK_FALSE(got->value().stages[2].submitted.has_value());
  }

  SECTION("only required fields: empty strings, absent times, no stages") {
    const BuildRecord b = bare_build("b2", 0);
    save_ok(*s, b);
    auto got = s->get("b2");
    REQUIRE(got);
    REQUIRE(got->has_value());
    CHECK(**got == b);
    CHECK_FALSE(got->value().started.has_value());
    CHECK_FALSE(got->value().done.has_value());
    CHECK_FALSE(got->value().cancel_requested);
  }

  SECTION("text is data, never SQL: quotes, unicode, embedded NUL, extreme integers") {
    BuildRecord b = full_build("x'); DROP TABLE builds; --");
    b.error = std::string("nul\0inside", 10) + " ✓ ünïcödé";
    b.spec_json = std::string(200000, 'j'); // overflow pages
    b.requested = std::numeric_limits<std::int64_t>::min();
    b.done = std::numeric_limits<std::int64_t>::max();
    b.stages[0].exit_code = std::numeric_limits<int>::min();
    save_ok(*s, b);
    auto got = s->get(b.id);
    REQUIRE(got);
    REQUIRE(got->has_value());
    CHECK(**got == b);
    CHECK(got->value().error.size() == b.error.size());
  }

  SECTION("an unknown id is nullopt, not an error") {
    auto got = s->get("missing");
    REQUIRE(got);
    CHECK_FALSE(got->has_value());
  }
}

TEST_CASE("store: saving a build again replaces it, its stages and its destinations", "[store]") {
  TempDir dir;
  auto s = open_ok(dir / "softpack.db");
  BuildRecord b = full_build("b1");
  save_ok(*s, b);
  save_ok(*s, bare_build("other", 1, "building"));

  SECTION("fewer stages") {
    b.stages.resize(1);
    b.state = "failed";
    b.cancel_requested = false;
    b.done.reset();
  }
  SECTION("more stages") {
    b.stages.push_back(stage("extra", "pending"));
    b.stages[1].job_id = "9999";
  }
  SECTION("no stages") {
    b.stages.clear();
  }
  SECTION("a destination published, one dropped") {
    b.destinations[1].state = "published";
    b.destinations[1].reference = "abc123";
    b.destinations[1].next_attempt.reset();
    b.destinations.erase(b.destinations.begin());
  }
  save_ok(*s, b);
  auto got = s->get("b1");
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK(**got == b);
  // The other build's stages and row are untouched.
  auto other = s->get("other");
  REQUIRE(other);
  REQUIRE(other->has_value());
  CHECK(**other == bare_build("other", 1, "building"));
  auto everything = s->all();
  REQUIRE(everything);
  CHECK(everything->size() == 2);
}

TEST_CASE("store: all and unfinished list builds in request order, then insertion order",
          "[store]") {
  TempDir dir;
  auto s = open_ok(dir / "softpack.db");
  // Saved out of request order; c and a share a request time and keep their insertion order.
  save_ok(*s, bare_build("late", 300, "queued"));
  save_ok(*s, bare_build("c", 100, "published"));
  save_ok(*s, bare_build("a", 100, "building"));
  save_ok(*s, bare_build("early", 50, "failed"));
  save_ok(*s, bare_build("mid", 200, "cancelled"));
  BuildRecord staged = full_build("staged", 150);
  staged.state = "submitting";
  save_ok(*s, staged);
  // An update keeps the build's place among builds requested at the same second.
  save_ok(*s, bare_build("c", 100, "published"));

  auto everything = s->all();
  REQUIRE(everything);
  CHECK(ids(*everything) == std::vector<std::string>{"early", "c", "a", "staged", "mid", "late"});
  CHECK(stage_names((*everything)[3]) ==
        std::vector<std::string>{"concretize", "build", "publish"});
  CHECK((*everything)[3] == staged);

  auto open = s->unfinished();
  REQUIRE(open);
  CHECK(ids(*open) == std::vector<std::string>{"a", "staged", "late"});
  CHECK((*open)[1] == staged);

  SECTION("a finished build leaves the unfinished list") {
    staged.state = "published";
    save_ok(*s, staged);
    auto again = s->unfinished();
    REQUIRE(again);
    CHECK(ids(*again) == std::vector<std::string>{"a", "late"});
  }

  SECTION("an empty store lists nothing") {
    TempDir other;
    auto empty = open_ok(other / "softpack.db");
    auto none = empty->all();
    REQUIRE(none);
    CHECK(none->empty());
    auto none_open = empty->unfinished();
    REQUIRE(none_open);
    CHECK(none_open->empty());
  }
}

TEST_CASE("store: builds survive closing and reopening the database", "[store]") {
  TempDir dir;
  // The directory does not exist yet: open creates it.
  const auto path = dir / "data" / "nested" / "softpack.db";
  const BuildRecord b1 = full_build("b1", 10);
  const BuildRecord b2 = bare_build("b2", 20);
  {
    auto s = open_ok(path);
    save_ok(*s, b1);
    save_ok(*s, b2);
  }
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  {
    auto s = open_ok(path);
    auto everything = s->all();
    REQUIRE(everything);
    REQUIRE(everything->size() == 2);
    CHECK((*everything)[0] == b1);
    CHECK((*everything)[1] == b2);
    // The insertion sequence continues after a reopen.
    save_ok(*s, bare_build("b3", 20));
  }
  auto s = open_ok(path);
  auto everything = s->all();
  REQUIRE(everything);
  CHECK(ids(*everything) == std::vector<std::string>{"b1", "b2", "b3"});
  CHECK(store::sqlite_schema_version() >= 1);
}

// Takes a database back from schema 4 to schema 3 (SQLite >= 3.35 drops columns).
constexpr std::string_view k_drop_schema_4 =
    "ALTER TABLE builds DROP COLUMN requester_kind; ALTER TABLE builds DROP COLUMN "
    "requester_name; ALTER TABLE builds DROP COLUMN requester_uid; ALTER TABLE builds DROP "
    "COLUMN queue_reason; ";

// What a row written before migration 4 reads as.
void forget_requester(BuildRecord& b) {
  b.requester_kind.clear();
  b.requester_name.clear();
  b.requester_uid.reset();
  b.queue_reason.clear();
}

TEST_CASE("store: a schema 1 database is migrated, its builds kept", "[store]") {
  if (!have_sqlite3_cli()) {
    WARN("skipped: the sqlite3 command-line tool is not installed");
    return;
  }
  TempDir dir;
  const auto path = dir / "softpack.db";
  BuildRecord b = full_build("old", 10);
  {
    auto s = open_ok(path);
    save_ok(*s, b);
  }
  // What a database written before destinations (and commit_builds, and requesters) existed
  // looks like.
  Sqlite3Cli cli({path.string(), std::string(k_drop_schema_4) +
                                     "DROP TABLE destinations; DROP TABLE commit_builds; "
                                     "PRAGMA user_version = 1;"});
  REQUIRE(cli.wait() == 0);
  auto s = open_ok(path);
  b.destinations.clear();
  forget_requester(b);
  auto got = s->get("old");
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK(**got == b);
  // The new table works after the migration.
  b.destinations = full_build("x").destinations;
  save_ok(*s, b);
  auto unfinished = s->unfinished();
  REQUIRE(unfinished);
  REQUIRE(unfinished->size() == 1);
  CHECK(unfinished->front() == b);
}

TEST_CASE("store: a schema 3 database gains the requester columns, its builds kept", "[store]") {
  if (!have_sqlite3_cli()) {
    WARN("skipped: the sqlite3 command-line tool is not installed");
    return;
  }
  TempDir dir;
  const auto path = dir / "softpack.db";
  BuildRecord b = full_build("old", 10);
  {
    auto s = open_ok(path);
    save_ok(*s, b);
  }
  Sqlite3Cli cli({path.string(), std::string(k_drop_schema_4) + "PRAGMA user_version = 3;"});
  REQUIRE(cli.wait() == 0);
  {
    // The columns are really gone before the reopen: selecting one is an error.
    Sqlite3Cli check({path.string(), "SELECT requester_kind FROM builds"});
    REQUIRE(check.wait() != 0);
  }
  auto s = open_ok(path);
  forget_requester(b);
  auto got = s->get("old");
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK(**got == b);
  CHECK((*got)->requester_kind.empty());
  CHECK_FALSE((*got)->requester_uid.has_value());
  // The new columns are written and read back, also after a reopen.
  const BuildRecord with_requester = full_build("old", 10);
  save_ok(*s, with_requester);
  s.reset();
  auto reopened = open_ok(path);
  auto again = reopened->get("old");
  REQUIRE(again);
  REQUIRE(again->has_value());
  CHECK(**again == with_requester);
  CHECK((*again)->requester_name == "alice");
  CHECK((*again)->requester_uid == 1001);
}

TEST_CASE("store: a requester without uid and a cleared queue reason round-trip", "[store]") {
  TempDir dir;
  const auto path = dir / "softpack.db";
  BuildRecord b = bare_build("t1", 5);
  b.requester_kind = "token";
  b.requester_name = "ci";
  b.queue_reason = "waiting for a slot (server.max_builds_in_flight: 1)";
  auto s = open_ok(path);
  save_ok(*s, b);
  // A change to the new fields alone is a changed row.
  b.queue_reason.clear();
  b.state = "queued";
  save_ok(*s, b);
  s.reset();
  auto reopened = open_ok(path);
  auto got = reopened->get("t1");
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK(**got == b);
  CHECK((*got)->queue_reason.empty());
  CHECK_FALSE((*got)->requester_uid.has_value());
}

TEST_CASE("store: a webhook delivery is recorded once, also across a reopen", "[store]") {
  TempDir dir;
  const auto path = dir / "softpack.db";
  {
    auto s = open_ok(path);
    auto first = s->record_delivery("d-1");
    REQUIRE(first);
    CHECK(*first);
    auto again = s->record_delivery("d-1");
    REQUIRE(again);
    CHECK_FALSE(*again);
    auto other = s->record_delivery("d-2");
    REQUIRE(other);
    CHECK(*other);
  }
  auto s = open_ok(path);
  auto after_reopen = s->record_delivery("d-1");
  REQUIRE(after_reopen);
  CHECK_FALSE(*after_reopen);
  auto fresh = s->record_delivery("d-3");
  REQUIRE(fresh);
  CHECK(*fresh);
}

TEST_CASE("store: whether a delivery is recorded, without recording it", "[store]") {
  TempDir dir;
  auto s = open_ok(dir / "softpack.db");
  auto before = s->delivery_recorded("d-1");
  REQUIRE(before);
  CHECK_FALSE(*before);
  auto still = s->delivery_recorded("d-1");
  REQUIRE(still);
  CHECK_FALSE(*still); // looking does not record
  REQUIRE(s->record_delivery("d-1"));
  auto after = s->delivery_recorded("d-1");
  REQUIRE(after);
  CHECK(*after);
}

TEST_CASE("store: the build the webhook started for an environment at a commit", "[store]") {
  TempDir dir;
  const auto path = dir / "softpack.db";
  const std::string commit = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
  {
    auto s = open_ok(path);
    auto none = s->build_from_commit(commit, "users/alice/env-1");
    REQUIRE(none);
    CHECK_FALSE(none->has_value());
    REQUIRE(s->record_build_from_commit(commit, "users/alice/env-1", "b-1"));
    REQUIRE(s->record_build_from_commit(commit, "users/alice/env-2", "b-2"));
    // A rebuild (the first one failed) replaces it.
    REQUIRE(s->record_build_from_commit(commit, "users/alice/env-1", "b-3"));
  }
  auto s = open_ok(path);
  auto one = s->build_from_commit(commit, "users/alice/env-1");
  REQUIRE(one);
  CHECK(*one == std::optional<std::string>("b-3"));
  auto two = s->build_from_commit(commit, "users/alice/env-2");
  REQUIRE(two);
  CHECK(*two == std::optional<std::string>("b-2"));
  auto other_commit = s->build_from_commit(std::string(40, 'a'), "users/alice/env-1");
  REQUIRE(other_commit);
  CHECK_FALSE(other_commit->has_value());
}

TEST_CASE("store: a file that is not our database is refused with a clear error", "[store]") {
  TempDir dir;

  SECTION("not a SQLite file") {
    const auto path = dir.write("softpack.db", std::string(4096, 'x'));
    auto s = Store::open(path);
    REQUIRE_FALSE(s);
    CHECK(s.error().kind == ErrorKind::io);
    CHECK(s.error().context == path.string());
    CHECK_THAT(s.error().message, Catch::Contains("not a SQLite database"));
    // The file is left as it was.
    CHECK(dir.read("softpack.db") == std::string(4096, 'x'));
  }

  SECTION("a directory") {
    std::filesystem::create_directories(dir / "softpack.db");
    auto s = Store::open(dir / "softpack.db");
    REQUIRE_FALSE(s);
    CHECK(s.error().kind == ErrorKind::io);
    CHECK_THAT(s.error().message, Catch::Contains("Is a directory"));
  }

  SECTION("another application's database, or a newer schema") {
    if (!have_sqlite3_cli()) {
      WARN("skipped: the sqlite3 command-line tool is not installed");
      return;
    }
    const auto path = dir / "softpack.db";
    SECTION("tables but no schema version") {
      Sqlite3Cli cli({path.string(), "CREATE TABLE t (x);"});
      REQUIRE(cli.wait() == 0);
      auto s = Store::open(path);
      REQUIRE_FALSE(s);
      CHECK_THAT(s.error().message, Catch::Contains("not a softpack-builder store"));
    }
    SECTION("a newer schema version") {
      { auto s = open_ok(path); }
      Sqlite3Cli cli({path.string(), "PRAGMA user_version = 999;"});
      REQUIRE(cli.wait() == 0);
      auto s = Store::open(path);
      REQUIRE_FALSE(s);
      CHECK_THAT(s.error().message, Catch::Contains("schema version 999") &&
                                        Catch::Contains("newer than this program"));
    }
  }
}

TEST_CASE("store: a full database fails the save whole and keeps earlier builds", "[store]") {
  TempDir dir;
  const auto path = dir / "softpack.db";
  const BuildRecord b1 = full_build("b1", 10);
  {
    auto s = open_ok(path);
    save_ok(*s, b1);
  }
  // max_page_count cannot go below the current size, so 1 means "no more pages than now".
  store::SqliteOptions full;
  full.max_page_count = 1;
  auto s = open_ok(path, full);
  BuildRecord big = full_build("big", 20);
  big.spec_json = std::string(256 * 1024, 's');
  auto r = s->save(big);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::io);
  CHECK(r.error().context == path.string());
  CHECK_THAT(r.error().message, Catch::Contains("disk full") &&
                                    Catch::Contains("save build 'big'") &&
                                    Catch::Contains("database or disk is full"));
  // Nothing of the failed save is visible, earlier builds are intact, the store still works.
  auto got = s->get("big");
  REQUIRE(got);
  CHECK_FALSE(got->has_value());
  auto everything = s->all();
  REQUIRE(everything);
  REQUIRE(everything->size() == 1);
  CHECK((*everything)[0] == b1);
  BuildRecord updated = b1;
  updated.state = "published";
  save_ok(*s, updated); // fits in the existing pages
  s.reset();

  auto reopened = open_ok(path);
  auto after = reopened->all();
  REQUIRE(after);
  REQUIRE(after->size() == 1);
  CHECK((*after)[0] == updated);
  save_ok(*reopened, big); // without the cap, the same save succeeds
}

TEST_CASE("store: a full filesystem fails the save whole and keeps earlier builds", "[store]") {
  TempDir dir;
  TinyFilesystem tiny(dir / "fs", "size=512k,mode=0700");
  if (!tiny.mounted()) {
    WARN("skipped: cannot mount a tmpfs (" << tiny.error()
                                           << "; needs root or CAP_SYS_ADMIN); the "
                                              "max_page_count test covers the same error path");
    SUCCEED();
    return;
  }
  const auto path = dir / "fs" / "data" / "softpack.db";
  const BuildRecord b1 = full_build("b1", 10);
  {
    auto s = open_ok(path);
    save_ok(*s, b1);
    save_ok(*s, bare_build("b2", 20));

    fill_filesystem(dir / "fs" / "filler");
    BuildRecord big = full_build("big", 30);
    big.spec_json = std::string(64 * 1024, 's');
    auto r = s->save(big);
    REQUIRE_FALSE(r);
    INFO(r.error().describe());
    CHECK(r.error().kind == ErrorKind::io);
    CHECK_THAT(r.error().message, Catch::Contains("disk full"));

    auto everything = s->all();
    REQUIRE(everything);
    CHECK(ids(*everything) == std::vector<std::string>{"b1", "b2"});
    CHECK((*everything)[0] == b1);

    // Once space is back, the same store saves again.
    std::filesystem::remove(dir / "fs" / "filler");
    save_ok(*s, big);
  }
  auto s = open_ok(path);
  auto everything = s->all();
  REQUIRE(everything);
  CHECK(ids(*everything) == std::vector<std::string>{"b1", "b2", "big"});
  CHECK((*everything)[0] == b1);
}

TEST_CASE("store: a write lock held by another process fails the save after the busy timeout",
          "[store]") {
  if (!have_sqlite3_cli()) {
    WARN("skipped: the sqlite3 command-line tool is not installed");
    SUCCEED();
    return;
  }
  TempDir dir;
  const auto path = dir / "softpack.db";
  const auto marker = dir / "locked";
  store::SqliteOptions options;
  options.busy_timeout_ms = 200;
  auto s = open_ok(path, options);
  save_ok(*s, bare_build("b1", 10));

  Sqlite3Cli holder({path.string(), "BEGIN IMMEDIATE;", ".shell touch " + marker.string(),
                     ".shell sleep 1.5", "COMMIT;"});
  REQUIRE(wait_for_file(marker, std::chrono::seconds(10)));

  // Readers are not blocked by a writer in WAL mode.
  auto everything = s->all();
  REQUIRE(everything);
  CHECK(everything->size() == 1);

  const auto start = std::chrono::steady_clock::now();
  auto r = s->save(bare_build("b2", 20));
  const auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::io);
  CHECK_THAT(r.error().message,
             Catch::Contains("locked by another connection") && Catch::Contains("waited 200 ms"));
  CHECK(waited >= std::chrono::milliseconds(150));

  REQUIRE(holder.wait() == 0);
  save_ok(*s, bare_build("b2", 20));
  auto after = s->all();
  REQUIRE(after);
  CHECK(ids(*after) == std::vector<std::string>{"b1", "b2"});
}

// Not run by default: `softpack_tests "[store-perf]"`. Timings are reported, not asserted: wall
// time, and this thread's CPU time, which a loaded machine inflates less.
TEST_CASE("store: timings of save and all", "[.][store-perf]") {
  struct Stopwatch {
    std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
    double cpu = thread_cpu_us();
    static double thread_cpu_us() {
      timespec ts{};
      ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
    }
    double wall_us() const {
      return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - wall)
          .count();
    }
    double cpu_us() const { return thread_cpu_us() - cpu; }
  };
  for (const bool full : {false, true}) {
    TempDir dir;
    store::SqliteOptions options;
    options.synchronous_full = full;
    auto s = open_ok(dir / "softpack.db", options);
    constexpr int k_saves = 300;
    BuildRecord b = full_build("update-me");
    const Stopwatch updates;
    for (int i = 0; i < k_saves; ++i) {
      b.stages[0].ended = i;
      save_ok(*s, b);
    }
    const double update_wall = updates.wall_us() / k_saves;
    const double update_cpu = updates.cpu_us() / k_saves;
    const Stopwatch inserts;
    for (int i = 0; i < k_saves; ++i) {
      save_ok(*s, full_build("new-" + std::to_string(i), i));
    }
    const double insert_wall = inserts.wall_us() / k_saves;
    const double insert_cpu = inserts.cpu_us() / k_saves;
    WARN("save() of a build with 3 stages, synchronous="
         << (full ? "FULL" : "NORMAL") << ": " << update_wall << " us per update (cpu "
         << update_cpu << "), " << insert_wall << " us per new build (cpu " << insert_cpu << ")");
  }
  TempDir dir;
  store::SqliteOptions fast;
  fast.synchronous_full = false;
  auto s = open_ok(dir / "softpack.db", fast);
  for (int i = 0; i < 1000; ++i) {
    save_ok(*s, full_build("b" + std::to_string(i), i % 97));
  }
  for (int round = 0; round < 5; ++round) {
    const Stopwatch all_time;
    auto everything = s->all();
    const double all_wall = all_time.wall_us() / 1000;
    const double all_cpu = all_time.cpu_us() / 1000;
    REQUIRE(everything);
    REQUIRE(everything->size() == 1000);
    REQUIRE((*everything)[999].stages.size() == 3);
    const Stopwatch unfinished_time;
    auto open = s->unfinished();
    const double unfinished_wall = unfinished_time.wall_us() / 1000;
    const double unfinished_cpu = unfinished_time.cpu_us() / 1000;
    REQUIRE(open);
    WARN("round " << round << ": all() of 1000 builds x 3 stages " << all_wall << " ms (cpu "
                  << all_cpu << "); unfinished() " << unfinished_wall << " ms (cpu "
                  << unfinished_cpu << ")");
  }
}

TEST_CASE("store: a save writes only the rows that changed", "[store]") {
  TempDir dir;
  auto opened = Store::open(dir / "state.db");
  REQUIRE(opened.has_value());
  Store& store = **opened;
  BuildRecord b = full_build("b1");
  b.state = "running";
  b.done.reset();
  REQUIRE(store.save(b));
  // The build row, three stages and two destinations, plus the (empty) deletion of rows past
  // the lists: all of it the first time.
  const std::size_t first = store.rows_written();
  CHECK(first == 1 + b.stages.size() + b.destinations.size());

  SECTION("the same record again writes nothing") {
    REQUIRE(store.save(b));
    CHECK(store.rows_written() == first);
  }
  SECTION("one stage changed: one row") {
    b.stages[2].job_id = "4244";
    b.stages[2].state = "pending";
    REQUIRE(store.save(b));
    CHECK(store.rows_written() == first + 1);
    auto back = store.get("b1");
    REQUIRE(back.has_value());
    CHECK(**back == b);
  }
  SECTION("the build's own fields: one row") {
    b.error = "something else";
    REQUIRE(store.save(b));
    CHECK(store.rows_written() == first + 1);
    CHECK(**store.get("b1") == b);
  }
  SECTION("a destination added, then the list shortened") {
    b.destinations.push_back(DestinationRecord{"core", "pending", 0, "", "", {}, {}, {}});
    REQUIRE(store.save(b));
    CHECK(store.rows_written() == first + 1);
    b.destinations.resize(1);
    REQUIRE(store.save(b));
    CHECK(store.rows_written() == first + 1 + 2); // two rows deleted
    CHECK(**store.get("b1") == b);
  }
  SECTION("a build saved final is written, then written whole when saved again") {
    b.state = "published";
    REQUIRE(store.save(b));
    CHECK(store.rows_written() == first + 1);
    REQUIRE(store.save(b));
    CHECK(store.rows_written() == first + 1 + first);
    CHECK(**store.get("b1") == b);
  }
  SECTION("a new store (a restart) writes a build whole once, then only changes") {
    opened->reset();
    auto again = Store::open(dir / "state.db");
    REQUIRE(again.has_value());
    b.stages[0].reason = "changed";
    REQUIRE((*again)->save(b));
    CHECK((*again)->rows_written() == first);
    b.stages[1].reason = "changed too";
    REQUIRE((*again)->save(b));
    CHECK((*again)->rows_written() == first + 1);
    CHECK(**(*again)->get("b1") == b);
  }
}
