#include "store/sqlite_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <unistd.h>
#include <utility>

#include <sqlite3.h>

namespace softpack::store {

namespace {

namespace fs = std::filesystem;

// PRAGMA application_id: "SPKB". Tells our database apart from any other SQLite file.
constexpr std::int64_t k_application_id = 0x53504b42;

// Migration i takes the schema from version i to i + 1, inside one transaction. Append only:
// a migration that has shipped is never edited, because databases out there already ran it.
// Plain types rather than STRICT tables so that the file stays readable by SQLite < 3.37.
constexpr std::string_view k_migrations[] = {
    // 1: builds, their stages, handled webhook deliveries.
    R"sql(
CREATE TABLE builds (
  id               TEXT    NOT NULL PRIMARY KEY,
  seq              INTEGER NOT NULL UNIQUE,  -- insertion order; kept when the build is updated
  env_path         TEXT    NOT NULL,
  env_name         TEXT    NOT NULL,
  env_version      TEXT    NOT NULL,
  spec_json        TEXT    NOT NULL,
  spec_hash        TEXT    NOT NULL,
  state            TEXT    NOT NULL,
  error            TEXT    NOT NULL DEFAULT '',
  build_dir        TEXT    NOT NULL DEFAULT '',
  published_ref    TEXT    NOT NULL DEFAULT '',
  cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
  requested        INTEGER NOT NULL,         -- epoch seconds
  started          INTEGER,
  done             INTEGER
);
CREATE INDEX builds_by_state ON builds (state);
CREATE INDEX builds_by_env ON builds (env_path, env_name, env_version);
CREATE INDEX builds_by_request ON builds (requested, seq);

CREATE TABLE stages (
  build_id  TEXT    NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
  position  INTEGER NOT NULL,
  name      TEXT    NOT NULL,
  job_name  TEXT    NOT NULL,
  job_id    TEXT    NOT NULL DEFAULT '',
  scheduler TEXT    NOT NULL,
  state     TEXT    NOT NULL,
  reason    TEXT    NOT NULL DEFAULT '',
  exit_code INTEGER,
  submitted INTEGER,
  started   INTEGER,
  ended     INTEGER,
  PRIMARY KEY (build_id, position)
) WITHOUT ROWID;

CREATE TABLE deliveries (
  id       TEXT    NOT NULL PRIMARY KEY,
  received INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);
)sql",
    // 2: each build's publish destinations and their outcomes (durable retries).
    R"sql(
CREATE TABLE destinations (
  build_id      TEXT    NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
  position      INTEGER NOT NULL,
  name          TEXT    NOT NULL,
  state         TEXT    NOT NULL,
  attempts      INTEGER NOT NULL DEFAULT 0,
  error         TEXT    NOT NULL DEFAULT '',
  reference     TEXT    NOT NULL DEFAULT '',
  first_failure INTEGER,  -- epoch seconds
  last_attempt  INTEGER,
  next_attempt  INTEGER,
  PRIMARY KEY (build_id, position)
) WITHOUT ROWID;
)sql",
    // 3: the build the webhook started for an environment read at a commit (de-duplication of
    // a commit pushed or delivered again).
    R"sql(
CREATE TABLE commit_builds (
  commit_id   TEXT    NOT NULL,
  environment TEXT    NOT NULL,  -- "users/alice/env-1"
  build_id    TEXT    NOT NULL,
  recorded    INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
  PRIMARY KEY (commit_id, environment)
) WITHOUT ROWID;
)sql",
    // 4: who asked for each build (kind "" = recorded before identities) and why a queued build
    // waits.
    R"sql(
ALTER TABLE builds ADD COLUMN requester_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE builds ADD COLUMN requester_name TEXT NOT NULL DEFAULT '';
ALTER TABLE builds ADD COLUMN requester_uid  INTEGER;
ALTER TABLE builds ADD COLUMN queue_reason   TEXT NOT NULL DEFAULT '';
)sql",
};

constexpr int k_schema_version = static_cast<int>(std::size(k_migrations));

// Every read is one LEFT JOIN (a consistent snapshot, no N+1 queries): one row per stage, or
// one row with NULL stage columns for a build without stages, grouped by build in request order.
constexpr std::string_view k_select_builds =
    "SELECT b.id, b.env_path, b.env_name, b.env_version, b.spec_json, b.spec_hash, b.state, "
    "b.error, b.build_dir, b.published_ref, b.cancel_requested, b.requested, b.started, b.done, "
    "b.requester_kind, b.requester_name, b.requester_uid, b.queue_reason, "
    "s.position, s.name, s.job_name, s.job_id, s.scheduler, s.state, s.reason, s.exit_code, "
    "s.submitted, s.started, s.ended "
    "FROM builds AS b LEFT JOIN stages AS s ON s.build_id = b.id ";
constexpr std::string_view k_build_order = " ORDER BY b.requested, b.seq, s.position";
constexpr std::string_view k_where_one = "WHERE b.id = ?1";
constexpr std::string_view k_where_unfinished =
    "WHERE b.state NOT IN ('published', 'failed', 'cancelled')";

std::string select_builds(std::string_view where) {
  return std::string(k_select_builds) + std::string(where) + std::string(k_build_order);
}

// An upsert, not INSERT OR REPLACE: REPLACE deletes the row first, which would give the build a
// new seq (moving it in the order) and cascade-delete its stages behind our back.
constexpr const char* k_upsert_build = R"sql(
INSERT INTO builds (id, seq, env_path, env_name, env_version, spec_json, spec_hash, state, error,
                    build_dir, published_ref, cancel_requested, requested, started, done,
                    requester_kind, requester_name, requester_uid, queue_reason)
VALUES (?1, (SELECT ifnull(max(seq), 0) + 1 FROM builds), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
        ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
ON CONFLICT (id) DO UPDATE SET
  env_path = excluded.env_path, env_name = excluded.env_name, env_version = excluded.env_version,
  spec_json = excluded.spec_json, spec_hash = excluded.spec_hash, state = excluded.state,
  error = excluded.error, build_dir = excluded.build_dir, published_ref = excluded.published_ref,
  cancel_requested = excluded.cancel_requested, requested = excluded.requested,
  started = excluded.started, done = excluded.done, requester_kind = excluded.requester_kind,
  requester_name = excluded.requester_name, requester_uid = excluded.requester_uid,
  queue_reason = excluded.queue_reason
)sql";

// Rows past a build's last stage or destination (a list that got shorter).
constexpr const char* k_delete_stages_from =
    "DELETE FROM stages WHERE build_id = ?1 AND position >= ?2";

constexpr const char* k_upsert_stage = R"sql(
INSERT INTO stages (build_id, position, name, job_name, job_id, scheduler, state, reason,
                    exit_code, submitted, started, ended)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
ON CONFLICT (build_id, position) DO UPDATE SET
  name = excluded.name, job_name = excluded.job_name, job_id = excluded.job_id,
  scheduler = excluded.scheduler, state = excluded.state, reason = excluded.reason,
  exit_code = excluded.exit_code, submitted = excluded.submitted, started = excluded.started,
  ended = excluded.ended
)sql";

constexpr const char* k_delete_destinations_from =
    "DELETE FROM destinations WHERE build_id = ?1 AND position >= ?2";

constexpr const char* k_upsert_destination = R"sql(
INSERT INTO destinations (build_id, position, name, state, attempts, error, reference,
                          first_failure, last_attempt, next_attempt)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (build_id, position) DO UPDATE SET
  name = excluded.name, state = excluded.state, attempts = excluded.attempts,
  error = excluded.error, reference = excluded.reference,
  first_failure = excluded.first_failure, last_attempt = excluded.last_attempt,
  next_attempt = excluded.next_attempt
)sql";

// The build's own row without its lists: whether it needs writing.
bool same_build_row(const BuildRecord& a, const BuildRecord& b) {
  return a.id == b.id && a.env_path == b.env_path && a.env_name == b.env_name &&
         a.env_version == b.env_version && a.spec_json == b.spec_json &&
         a.spec_hash == b.spec_hash && a.state == b.state && a.error == b.error &&
         a.build_dir == b.build_dir && a.published_ref == b.published_ref &&
         a.cancel_requested == b.cancel_requested && a.requested == b.requested &&
         a.started == b.started && a.done == b.done && a.requester_kind == b.requester_kind &&
         a.requester_name == b.requester_name && a.requester_uid == b.requester_uid &&
         a.queue_reason == b.queue_reason;
}

bool is_final_state(std::string_view state) {
  return state == "published" || state == "failed" || state == "cancelled";
}

// Destinations are read with a second query (joining them into the builds query would repeat
// each stage row per destination), restricted like the builds query it follows.
constexpr std::string_view k_select_destinations =
    "SELECT d.build_id, d.name, d.state, d.attempts, d.error, d.reference, d.first_failure, "
    "d.last_attempt, d.next_attempt FROM destinations AS d JOIN builds AS b ON b.id = d.build_id ";
constexpr std::string_view k_destination_order = " ORDER BY d.build_id, d.position";

std::string select_destinations(std::string_view where) {
  return std::string(k_select_destinations) + std::string(where) + std::string(k_destination_order);
}

constexpr const char* k_record_delivery = "INSERT OR IGNORE INTO deliveries (id) VALUES (?1)";
constexpr const char* k_delivery_recorded = "SELECT count(*) FROM deliveries WHERE id = ?1";
constexpr const char* k_build_from_commit =
    "SELECT build_id FROM commit_builds WHERE commit_id = ?1 AND environment = ?2";
constexpr const char* k_record_build_from_commit = R"sql(
INSERT INTO commit_builds (commit_id, environment, build_id) VALUES (?1, ?2, ?3)
ON CONFLICT (commit_id, environment) DO UPDATE SET
  build_id = excluded.build_id, recorded = excluded.recorded
)sql";

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;

struct StatementFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

// Resets a cached statement when it goes out of scope, so that no statement is left mid-step
// holding a read snapshot or a bound pointer to a string that is about to die.
class StatementUse {
public:
  explicit StatementUse(const Statement& s) : m_s(s.get()) {}
  ~StatementUse() {
    sqlite3_reset(m_s);
    sqlite3_clear_bindings(m_s);
  }
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;
  sqlite3_stmt* get() const { return m_s; }

private:
  sqlite3_stmt* m_s;
};

// Binding accumulates the first failure so that a run of binds reads as a list.
class Binder {
public:
  explicit Binder(sqlite3_stmt* s) : m_s(s) {}
  // Text is bound by length (embedded NULs survive); std::string::data() is never null, so an
  // empty string is bound as '' and not as NULL.
  Binder& text(int i, const std::string& v) {
    return check(sqlite3_bind_text64(m_s, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  Binder& integer(int i, std::int64_t v) { return check(sqlite3_bind_int64(m_s, i, v)); }
  template <typename T> Binder& optional(int i, const std::optional<T>& v) {
    return check(v ? sqlite3_bind_int64(m_s, i, static_cast<std::int64_t>(*v))
                   : sqlite3_bind_null(m_s, i));
  }
  int rc() const { return m_rc; }

private:
  Binder& check(int rc) {
    if (m_rc == SQLITE_OK) {
      m_rc = rc;
    }
    return *this;
  }
  sqlite3_stmt* m_s;
  int m_rc = SQLITE_OK;
};

std::string column_text(sqlite3_stmt* s, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  const int n = sqlite3_column_bytes(s, col);
  return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(n));
}

std::optional<std::int64_t> column_optional(sqlite3_stmt* s, int col) {
  if (sqlite3_column_type(s, col) == SQLITE_NULL) {
    return std::nullopt;
  }
  return sqlite3_column_int64(s, col);
}

std::string_view column_view(sqlite3_stmt* s, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  const int n = sqlite3_column_bytes(s, col);
  return p == nullptr ? std::string_view() : std::string_view(p, static_cast<std::size_t>(n));
}

void read_build(sqlite3_stmt* s, BuildRecord& b) {
  b.id = column_text(s, 0);
  b.env_path = column_text(s, 1);
  b.env_name = column_text(s, 2);
  b.env_version = column_text(s, 3);
  b.spec_json = column_text(s, 4);
  b.spec_hash = column_text(s, 5);
  b.state = column_text(s, 6);
  b.error = column_text(s, 7);
  b.build_dir = column_text(s, 8);
  b.published_ref = column_text(s, 9);
  b.cancel_requested = sqlite3_column_int64(s, 10) != 0;
  b.requested = sqlite3_column_int64(s, 11);
  b.started = column_optional(s, 12);
  b.done = column_optional(s, 13);
  b.requester_kind = column_text(s, 14);
  b.requester_name = column_text(s, 15);
  b.requester_uid = column_optional(s, 16);
  b.queue_reason = column_text(s, 17);
}

constexpr int k_first_stage_column = 18; // s.position

void read_stage(sqlite3_stmt* s, StageRecord& st) {
  constexpr int c = k_first_stage_column + 1;
  st.name = column_text(s, c);
  st.job_name = column_text(s, c + 1);
  st.job_id = column_text(s, c + 2);
  st.scheduler = column_text(s, c + 3);
  st.state = column_text(s, c + 4);
  st.reason = column_text(s, c + 5);
  if (auto code = column_optional(s, c + 6)) {
    st.exit_code = static_cast<int>(*code);
  }
  st.submitted = column_optional(s, c + 7);
  st.started = column_optional(s, c + 8);
  st.ended = column_optional(s, c + 9);
}

void read_destination(sqlite3_stmt* s, DestinationRecord& d) {
  d.name = column_text(s, 1);
  d.state = column_text(s, 2);
  d.attempts = static_cast<int>(sqlite3_column_int64(s, 3));
  d.error = column_text(s, 4);
  d.reference = column_text(s, 5);
  d.first_failure = column_optional(s, 6);
  d.last_attempt = column_optional(s, 7);
  d.next_attempt = column_optional(s, 8);
}

bool is_disk_full(int rc, int system_errno) {
  // SQLite reports ENOSPC on write as SQLITE_FULL, and a database at max_page_count likewise;
  // a failed fsync or a quota shows up as an I/O error carrying the errno.
  return (rc & 0xff) == SQLITE_FULL ||
         ((rc & 0xff) == SQLITE_IOERR && (system_errno == ENOSPC || system_errno == EDQUOT));
}

class SqliteStore final : public Store {
public:
  SqliteStore(DbHandle db, std::string path, SqliteOptions options)
      : m_path(std::move(path)), m_options(options), m_db(std::move(db)) {}

  Expected<void> initialize();

  Expected<void> save(const BuildRecord& build) override;
  Expected<std::optional<BuildRecord>> get(const std::string& id) override;
  Expected<std::vector<BuildRecord>> all() override;
  Expected<std::vector<BuildRecord>> unfinished() override;
  Expected<bool> record_delivery(const std::string& delivery_id) override;
  Expected<bool> delivery_recorded(const std::string& delivery_id) override;
  Expected<std::optional<std::string>> build_from_commit(const std::string& commit,
                                                         const std::string& env) override;
  Expected<void> record_build_from_commit(const std::string& commit, const std::string& env,
                                          const std::string& build_id) override;
  std::size_t rows_written() const override { return m_rows_written; }

private:
  // An io Error naming the operation and SQLite's message; call before anything else touches
  // the connection, since the message belongs to the most recent call.
  Error failure(int rc, std::string_view operation) const;
  Error other_failure(std::string message) const {
    return make_error(ErrorKind::io, std::move(message), m_path);
  }
  Expected<void> exec(const char* sql, std::string_view operation);
  template <typename Read>
  auto query_one(const char* sql, std::string_view operation, Read read)
      -> Expected<decltype(read(static_cast<sqlite3_stmt*>(nullptr)))>;
  Expected<std::int64_t> query_integer(const char* sql, std::string_view operation);
  Expected<std::string> query_text(const char* sql, std::string_view operation);
  Expected<void> check_identity();
  Expected<void> migrate();
  Expected<void> prepare(Statement& out, const char* sql);
  Expected<void> step_done(const Statement& s, std::string_view operation);
  // Writes what differs from `before` (everything when there is no `before`).
  Expected<void> write_rows(const BuildRecord& build, const BuildRecord* before,
                            std::string_view operation);
  Expected<void> write_stage(const BuildRecord& b, std::size_t i, std::string_view operation);
  Expected<void> write_destination(const BuildRecord& b, std::size_t i, std::string_view operation);
  // Runs a "DELETE … WHERE build_id = ?1 AND position >= ?2" statement.
  Expected<void> delete_rows_from(const Statement& s, const std::string& build_id,
                                  std::size_t position, std::string_view operation);
  void rollback_if_open();
  Expected<std::vector<BuildRecord>> load(const Statement& builds, const Statement& destinations,
                                          std::string_view operation);

  std::string m_path;
  SqliteOptions m_options;
  // The largest list loaded so far: the next one is reserved at that size rather than grown.
  std::size_t m_load_size_hint = 0;
  // What the last successful save of each unfinished build wrote, so that the next save writes
  // only what changed. A build leaves it when it is saved in a final state (it is rarely saved
  // again) or when a save fails (what the database holds is then unknown: rewrite it all).
  std::map<std::string, BuildRecord, std::less<>> m_saved;
  std::size_t m_rows_written = 0;
  // Declared before the statements so that they are finalized before the connection closes.
  DbHandle m_db;
  Statement m_begin;
  Statement m_commit;
  Statement m_rollback;
  Statement m_upsert_build;
  Statement m_delete_stages_from;
  Statement m_upsert_stage;
  Statement m_delete_destinations_from;
  Statement m_upsert_destination;
  Statement m_select_one;
  Statement m_select_all;
  Statement m_select_unfinished;
  Statement m_select_one_destinations;
  Statement m_select_all_destinations;
  Statement m_select_unfinished_destinations;
  Statement m_record_delivery;
  Statement m_delivery_recorded;
  Statement m_build_from_commit;
  Statement m_record_build_from_commit;
};

Error SqliteStore::failure(int rc, std::string_view operation) const {
  sqlite3* db = m_db.get();
  const int primary = rc & 0xff;
  const std::string sqlite_message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int system_errno = db != nullptr ? sqlite3_system_errno(db) : 0;
  std::string message;
  if (is_disk_full(rc, system_errno)) {
    message = "disk full: " + std::string(operation) + " failed (" + sqlite_message +
              "); nothing was written - free space in the data directory and retry";
  } else if (primary == SQLITE_NOTADB) {
    message =
        std::string(operation) + ": the file is not a SQLite database (" + sqlite_message + ")";
  } else if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    message = std::string(operation) + ": the database is locked by another connection (" +
              sqlite_message + ", waited " + std::to_string(m_options.busy_timeout_ms) + " ms)";
  } else {
    message = std::string(operation) + ": " + sqlite_message;
    if (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN) {
      if (system_errno != 0) {
        message += " (" + std::string(std::strerror(system_errno)) + ")";
      }
    }
  }
  return make_error(ErrorKind::io, std::move(message), m_path);
}

Expected<void> SqliteStore::exec(const char* sql, std::string_view operation) {
  const int rc = sqlite3_exec(m_db.get(), sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return failure(rc, operation);
  }
  return {};
}

// One value from the first row of a one-off query, read with `read(statement)`.
template <typename Read>
auto SqliteStore::query_one(const char* sql, std::string_view operation, Read read)
    -> Expected<decltype(read(static_cast<sqlite3_stmt*>(nullptr)))> {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(m_db.get(), sql, -1, &raw, nullptr);
  Statement s(raw);
  if (rc != SQLITE_OK) {
    return failure(rc, operation);
  }
  rc = sqlite3_step(s.get());
  if (rc != SQLITE_ROW) {
    return failure(rc, operation);
  }
  return read(s.get());
}

Expected<std::int64_t> SqliteStore::query_integer(const char* sql, std::string_view operation) {
  return query_one(sql, operation,
                   [](sqlite3_stmt* st) -> std::int64_t { return sqlite3_column_int64(st, 0); });
}

Expected<std::string> SqliteStore::query_text(const char* sql, std::string_view operation) {
  return query_one(sql, operation, [](sqlite3_stmt* st) { return column_text(st, 0); });
}

Expected<void> SqliteStore::prepare(Statement& out, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(m_db.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  out.reset(raw);
  if (rc != SQLITE_OK) {
    return failure(rc, "prepare statement");
  }
  return {};
}

// Refuses a SQLite file that belongs to something else rather than adding our tables to it.
Expected<void> SqliteStore::check_identity() {
  // The first read of the file: this is where a file that is not a database is caught.
  auto app = query_integer("PRAGMA application_id", "read the database header");
  if (!app) {
    return app.error();
  }
  auto version = query_integer("PRAGMA user_version", "read the schema version");
  if (!version) {
    return version.error();
  }
  if (*app != 0 && *app != k_application_id) {
    return other_failure("the file is a SQLite database of another application (application_id " +
                         std::to_string(*app) + "), not a softpack-builder store");
  }
  if (*version == 0) {
    auto tables = query_integer("SELECT count(*) FROM sqlite_master", "read the schema");
    if (!tables) {
      return tables.error();
    }
    if (*tables != 0) {
      return other_failure("the file is a SQLite database with tables but no schema version, "
                           "not a softpack-builder store");
    }
  }
  if (*version > k_schema_version) {
    return other_failure("the database has schema version " + std::to_string(*version) +
                         ", newer than this program's " + std::to_string(k_schema_version) +
                         ": run a newer softpack-builder, or restore a backup");
  }
  return {};
}

Expected<void> SqliteStore::migrate() {
  for (;;) {
    // Each step re-reads the version under the write lock, so two processes opening a new
    // database at once do not both run a migration.
    if (auto r = exec("BEGIN IMMEDIATE", "begin schema migration"); !r) {
      return r;
    }
    auto version = query_integer("PRAGMA user_version", "read the schema version");
    if (!version) {
      rollback_if_open();
      return version.error();
    }
    if (*version >= k_schema_version) {
      rollback_if_open();
      return {};
    }
    const auto next = *version + 1;
    const std::string operation = "migrate the schema to version " + std::to_string(next);
    const std::string sql =
        std::string(k_migrations[*version]) + "\nPRAGMA user_version = " + std::to_string(next) +
        ";\nPRAGMA application_id = " + std::to_string(k_application_id) + ";\nCOMMIT;";
    if (auto r = exec(sql.c_str(), operation); !r) {
      rollback_if_open();
      return r;
    }
  }
}

Expected<void> SqliteStore::initialize() {
  sqlite3* db = m_db.get();
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, m_options.busy_timeout_ms);
  if (auto r = exec("PRAGMA foreign_keys = ON", "enable foreign keys"); !r) {
    return r;
  }
  if (auto r = check_identity(); !r) {
    return r;
  }
  // WAL: readers never block the writer, and a commit is one append plus (with FULL) one fsync.
  auto mode = query_text("PRAGMA journal_mode = WAL", "switch to WAL journal mode");
  if (!mode) {
    return mode.error();
  }
  if (*mode != "wal") {
    return other_failure("switch to WAL journal mode: SQLite kept '" + *mode +
                         "' (WAL needs a local filesystem with shared memory; not NFS)");
  }
  if (auto r = exec(m_options.synchronous_full ? "PRAGMA synchronous = FULL"
                                               : "PRAGMA synchronous = NORMAL",
                    "set synchronous");
      !r) {
    return r;
  }
  if (auto r = migrate(); !r) {
    return r;
  }
  if (m_options.max_page_count > 0) {
    const std::string sql = "PRAGMA max_page_count = " + std::to_string(m_options.max_page_count);
    if (auto r = query_integer(sql.c_str(), "set max_page_count"); !r) {
      return r.error();
    }
  }
  const std::pair<Statement*, std::string> statements[] = {
      {&m_begin, "BEGIN IMMEDIATE"},
      {&m_commit, "COMMIT"},
      {&m_rollback, "ROLLBACK"},
      {&m_upsert_build, k_upsert_build},
      {&m_delete_stages_from, k_delete_stages_from},
      {&m_upsert_stage, k_upsert_stage},
      {&m_delete_destinations_from, k_delete_destinations_from},
      {&m_upsert_destination, k_upsert_destination},
      {&m_select_one, select_builds(k_where_one)},
      {&m_select_all, select_builds("")},
      {&m_select_unfinished, select_builds(k_where_unfinished)},
      {&m_select_one_destinations, select_destinations(k_where_one)},
      {&m_select_all_destinations, select_destinations("")},
      {&m_select_unfinished_destinations, select_destinations(k_where_unfinished)},
      {&m_record_delivery, k_record_delivery},
      {&m_delivery_recorded, k_delivery_recorded},
      {&m_build_from_commit, k_build_from_commit},
      {&m_record_build_from_commit, k_record_build_from_commit},
  };
  for (const auto& [statement, sql] : statements) {
    if (auto r = prepare(*statement, sql.c_str()); !r) {
      return r;
    }
  }
  return {};
}

Expected<void> SqliteStore::step_done(const Statement& s, std::string_view operation) {
  const int rc = sqlite3_step(s.get());
  if (rc != SQLITE_DONE) {
    return failure(rc, operation);
  }
  return {};
}

void SqliteStore::rollback_if_open() {
  // After some errors (SQLITE_FULL, IOERR, BUSY on COMMIT) SQLite has already rolled the
  // transaction back; after others it is still open and must be ended here, or every later
  // save would fail with "cannot start a transaction within a transaction".
  if (sqlite3_get_autocommit(m_db.get()) == 0) {
    if (m_rollback) {
      StatementUse use(m_rollback);
      sqlite3_step(use.get());
    } else {
      sqlite3_exec(m_db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
}

Expected<void> SqliteStore::delete_rows_from(const Statement& s, const std::string& build_id,
                                             std::size_t position, std::string_view operation) {
  StatementUse use(s);
  Binder bind(use.get());
  if (bind.text(1, build_id).integer(2, static_cast<std::int64_t>(position)).rc() != SQLITE_OK) {
    return failure(bind.rc(), operation);
  }
  if (auto r = step_done(s, operation); !r) {
    return r;
  }
  m_rows_written += static_cast<std::size_t>(sqlite3_changes(m_db.get()));
  return {};
}

Expected<void> SqliteStore::write_stage(const BuildRecord& b, std::size_t i,
                                        std::string_view operation) {
  const StageRecord& s = b.stages[i];
  StatementUse use(m_upsert_stage);
  Binder bind(use.get());
  bind.text(1, b.id)
      .integer(2, static_cast<std::int64_t>(i))
      .text(3, s.name)
      .text(4, s.job_name)
      .text(5, s.job_id)
      .text(6, s.scheduler)
      .text(7, s.state)
      .text(8, s.reason)
      .optional(9, s.exit_code)
      .optional(10, s.submitted)
      .optional(11, s.started)
      .optional(12, s.ended);
  if (bind.rc() != SQLITE_OK) {
    return failure(bind.rc(), operation);
  }
  if (auto r = step_done(m_upsert_stage, operation); !r) {
    return r;
  }
  ++m_rows_written;
  return {};
}

Expected<void> SqliteStore::write_destination(const BuildRecord& b, std::size_t i,
                                              std::string_view operation) {
  const DestinationRecord& d = b.destinations[i];
  StatementUse use(m_upsert_destination);
  Binder bind(use.get());
  bind.text(1, b.id)
      .integer(2, static_cast<std::int64_t>(i))
      .text(3, d.name)
      .text(4, d.state)
      .integer(5, d.attempts)
      .text(6, d.error)
      .text(7, d.reference)
      .optional(8, d.first_failure)
      .optional(9, d.last_attempt)
      .optional(10, d.next_attempt);
  if (bind.rc() != SQLITE_OK) {
    return failure(bind.rc(), operation);
  }
  if (auto r = step_done(m_upsert_destination, operation); !r) {
    return r;
  }
  ++m_rows_written;
  return {};
}

Expected<void> SqliteStore::write_rows(const BuildRecord& b, const BuildRecord* before,
                                       std::string_view operation) {
  if (!before || !same_build_row(*before, b)) {
    StatementUse use(m_upsert_build);
    Binder bind(use.get());
    bind.text(1, b.id)
        .text(2, b.env_path)
        .text(3, b.env_name)
        .text(4, b.env_version)
        .text(5, b.spec_json)
        .text(6, b.spec_hash)
        .text(7, b.state)
        .text(8, b.error)
        .text(9, b.build_dir)
        .text(10, b.published_ref)
        .integer(11, b.cancel_requested ? 1 : 0)
        .integer(12, b.requested)
        .optional(13, b.started)
        .optional(14, b.done)
        .text(15, b.requester_kind)
        .text(16, b.requester_name)
        .optional(17, b.requester_uid)
        .text(18, b.queue_reason);
    if (bind.rc() != SQLITE_OK) {
      return failure(bind.rc(), operation);
    }
    if (auto r = step_done(m_upsert_build, operation); !r) {
      return r;
    }
    ++m_rows_written;
  }
  for (std::size_t i = 0; i < b.stages.size(); ++i) {
    if (!before || i >= before->stages.size() || before->stages[i] != b.stages[i]) {
      if (auto r = write_stage(b, i, operation); !r) {
        return r;
      }
    }
  }
  if (!before || before->stages.size() > b.stages.size()) {
    if (auto r = delete_rows_from(m_delete_stages_from, b.id, b.stages.size(), operation); !r) {
      return r;
    }
  }
  for (std::size_t i = 0; i < b.destinations.size(); ++i) {
    if (!before || i >= before->destinations.size() ||
        before->destinations[i] != b.destinations[i]) {
      if (auto r = write_destination(b, i, operation); !r) {
        return r;
      }
    }
  }
  if (!before || before->destinations.size() > b.destinations.size()) {
    if (auto r =
            delete_rows_from(m_delete_destinations_from, b.id, b.destinations.size(), operation);
        !r) {
      return r;
    }
  }
  return {};
}

Expected<void> SqliteStore::save(const BuildRecord& build) {
  auto saved = m_saved.find(build.id);
  const BuildRecord* before = saved == m_saved.end() ? nullptr : &saved->second;
  if (before && *before == build) {
    return {}; // already written, and durable
  }
  const std::string operation = "save build '" + build.id + "'";
  {
    StatementUse use(m_begin);
    if (auto r = step_done(m_begin, operation); !r) {
      return r;
    }
  }
  auto written = write_rows(build, before, operation);
  if (written) {
    StatementUse use(m_commit);
    written = step_done(m_commit, operation);
  }
  if (!written) {
    rollback_if_open();
    if (saved != m_saved.end()) {
      m_saved.erase(saved);
    }
    return written;
  }
  if (is_final_state(build.state)) {
    if (saved != m_saved.end()) {
      m_saved.erase(saved);
    }
  } else if (saved != m_saved.end()) {
    saved->second = build;
  } else {
    m_saved.emplace(build.id, build);
  }
  return {};
}

Expected<std::vector<BuildRecord>>
SqliteStore::load(const Statement& s, const Statement& destinations, std::string_view operation) {
  std::vector<BuildRecord> builds;
  builds.reserve(m_load_size_hint);
  for (;;) {
    const int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) {
      break;
    }
    if (rc != SQLITE_ROW) {
      return failure(rc, operation);
    }
    // Rows come grouped by build (ordered by its unique seq), stages in position order.
    // Records are filled in place: in a Debug build, moving them dominated the time of all().
    if (builds.empty() || builds.back().id != column_view(s.get(), 0)) {
      read_build(s.get(), builds.emplace_back());
    }
    if (sqlite3_column_type(s.get(), k_first_stage_column) != SQLITE_NULL) {
      read_stage(s.get(), builds.back().stages.emplace_back());
    }
  }
  m_load_size_hint = std::max(m_load_size_hint, builds.size());
  std::map<std::string_view, BuildRecord*> by_id;
  for (auto& b : builds) {
    by_id.emplace(b.id, &b);
  }
  for (;;) {
    const int rc = sqlite3_step(destinations.get());
    if (rc == SQLITE_DONE) {
      return builds;
    }
    if (rc != SQLITE_ROW) {
      return failure(rc, operation);
    }
    // A build saved between the two queries is not in `builds`: its destinations wait for
    // the next load.
    if (auto it = by_id.find(column_view(destinations.get(), 0)); it != by_id.end()) {
      read_destination(destinations.get(), it->second->destinations.emplace_back());
    }
  }
}

Expected<std::optional<BuildRecord>> SqliteStore::get(const std::string& id) {
  const std::string operation = "read build '" + id + "'";
  StatementUse use(m_select_one);
  StatementUse use_destinations(m_select_one_destinations);
  Binder bind(use.get());
  Binder bind_destinations(use_destinations.get());
  if (bind.text(1, id).rc() != SQLITE_OK) {
    return failure(bind.rc(), operation);
  }
  if (bind_destinations.text(1, id).rc() != SQLITE_OK) {
    return failure(bind_destinations.rc(), operation);
  }
  auto builds = load(m_select_one, m_select_one_destinations, operation);
  if (!builds) {
    return builds.error();
  }
  if (builds->empty()) {
    return std::optional<BuildRecord>();
  }
  return std::optional<BuildRecord>(std::move(builds->front()));
}

Expected<std::vector<BuildRecord>> SqliteStore::all() {
  StatementUse use(m_select_all);
  StatementUse use_destinations(m_select_all_destinations);
  return load(m_select_all, m_select_all_destinations, "read all builds");
}

Expected<std::vector<BuildRecord>> SqliteStore::unfinished() {
  StatementUse use(m_select_unfinished);
  StatementUse use_destinations(m_select_unfinished_destinations);
  return load(m_select_unfinished, m_select_unfinished_destinations, "read unfinished builds");
}

Expected<bool> SqliteStore::record_delivery(const std::string& delivery_id) {
  const std::string operation = "record webhook delivery '" + delivery_id + "'";
  StatementUse use(m_record_delivery);
  Binder bind(use.get());
  if (bind.text(1, delivery_id).rc() != SQLITE_OK) {
    return failure(bind.rc(), operation);
  }
  if (auto r = step_done(m_record_delivery, operation); !r) {
    return r.error();
  }
  return sqlite3_changes(m_db.get()) > 0;
}

Expected<bool> SqliteStore::delivery_recorded(const std::string& delivery_id) {
  const std::string operation = "look up webhook delivery '" + delivery_id + "'";
  StatementUse use(m_delivery_recorded);
  Binder bind(use.get());
  if (bind.text(1, delivery_id).rc() != SQLITE_OK) {
    return failure(bind.rc(), operation);
  }
  const int rc = sqlite3_step(use.get());
  if (rc != SQLITE_ROW) {
    return failure(rc, operation);
  }
  return sqlite3_column_int64(use.get(), 0) > 0;
}

Expected<std::optional<std::string>> SqliteStore::build_from_commit(const std::string& commit,
                                                                    const std::string& env) {
  const std::string operation = "look up the build of " + env + " at " + commit;
  StatementUse use(m_build_from_commit);
  Binder bind(use.get());
  if (bind.text(1, commit).text(2, env).rc() != SQLITE_OK) {
    return failure(bind.rc(), operation);
  }
  const int rc = sqlite3_step(use.get());
  if (rc == SQLITE_DONE) {
    return std::optional<std::string>();
  }
  if (rc != SQLITE_ROW) {
    return failure(rc, operation);
  }
  return std::optional<std::string>(column_text(use.get(), 0));
}

Expected<void> SqliteStore::record_build_from_commit(const std::string& commit,
                                                     const std::string& env,
                                                     const std::string& build_id) {
  const std::string operation = "record build " + build_id + " of " + env + " at " + commit;
  StatementUse use(m_record_build_from_commit);
  Binder bind(use.get());
  if (bind.text(1, commit).text(2, env).text(3, build_id).rc() != SQLITE_OK) {
    return failure(bind.rc(), operation);
  }
  return step_done(m_record_build_from_commit, operation);
}

} // namespace

int sqlite_schema_version() {
  return k_schema_version;
}

Expected<std::unique_ptr<Store>> open_sqlite(const fs::path& path, const SqliteOptions& options) {
  const std::string where = path.string();
  std::error_code ec;
  if (path.has_parent_path()) {
    fs::create_directories(path.parent_path(), ec);
    if (ec) {
      return make_error(ErrorKind::io, "cannot create the database directory: " + ec.message(),
                        where);
    }
  }
  // Created here, not by SQLite, so that it is private (0600); SQLite gives the -wal and -shm
  // files the mode of the database file.
  const int fd = ::open(where.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return make_error(ErrorKind::io,
                      "cannot open the database file: " + std::string(std::strerror(errno)), where);
  }
  ::close(fd);

  sqlite3* raw = nullptr;
  // NOMUTEX: a Store is used from one thread (see store.hpp).
  const int rc =
      sqlite3_open_v2(where.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbHandle db(raw); // closed on every path, also when opening failed
  if (rc != SQLITE_OK) {
    const std::string message = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    return make_error(ErrorKind::io, "open the database: " + message, where);
  }
  auto store = std::make_unique<SqliteStore>(std::move(db), where, options);
  if (auto r = store->initialize(); !r) {
    return r.error();
  }
  return std::unique_ptr<Store>(std::move(store));
}

Expected<std::unique_ptr<Store>> Store::open(const fs::path& path) {
  return open_sqlite(path, SqliteOptions{});
}

} // namespace softpack::store
