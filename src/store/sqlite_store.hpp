#pragma once

// The SQLite implementation of Store, with the knobs Store::open leaves at their defaults.
// Store::open(path) is open_sqlite(path, {}); tests and benchmarks use the options.
//
// Errors: every SQLite failure is an ErrorKind::io Error whose message names the operation and
// SQLite's own text and whose context is the database path. A full disk (or a database that
// reached max_page_count) says "disk full"; a file that is not a SQLite database, or a database
// that is not ours, says so; a write lock held too long by another connection says "locked".
// A failed save() is rolled back whole: the builds saved before it stay readable, and the store
// stays usable once the cause is gone.

#include "store/store.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>

namespace softpack::store {

struct SqliteOptions {
  // PRAGMA synchronous: FULL (true) makes a committed save survive a power loss; NORMAL (false)
  // in WAL mode survives a process crash but may lose the last commits on a power loss.
  bool synchronous_full = true;
  // How long a write waits for another connection's write lock before failing.
  int busy_timeout_ms = 5000;
  // PRAGMA max_page_count for this connection; 0 leaves SQLite's default. Lets tests make the
  // database "full" without a small filesystem.
  std::int64_t max_page_count = 0;
};

// The schema version (PRAGMA user_version) this program migrates databases to.
int sqlite_schema_version();

Expected<std::unique_ptr<Store>> open_sqlite(const std::filesystem::path& path,
                                             const SqliteOptions& options);

} // namespace softpack::store
