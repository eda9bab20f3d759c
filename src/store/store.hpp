#pragma once

// Durable state in SQLite (one file in the data directory): builds, their stages and publish
// destinations, the GitLab webhook deliveries already handled, and which build the webhook
// started for an environment at a commit. The service writes a build's row and its stages'
// rows whenever they change (write-ahead: a stage is saved as submitting before the scheduler
// is asked, its job id right after), so a restart - even after kill -9 - reloads every
// unfinished build and re-attaches to its jobs.
//
// Thread-safety: one Store is used from one thread (the service's io_context thread). Writes
// are transactions; the database runs in WAL mode with synchronous=FULL, so a returned success
// means the data survives a crash of the process or the machine.

#include "util/error.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace softpack::store {

struct StageRecord {
  std::string name;      // "concretize"
  std::string job_name;  // "sp.<owner>.<env>-<version>.<stage>"
  std::string job_id;    // "" until submitted
  std::string scheduler; // backend name: "slurm", "lsf", "local"
  std::string state;     // scheduler::JobState name, or "submitting"
  std::string reason;
  std::optional<int> exit_code;
  std::optional<std::int64_t> submitted; // epoch seconds
  std::optional<std::int64_t> started;
  std::optional<std::int64_t> ended;
  bool operator==(const StageRecord&) const = default;
};

struct DestinationRecord {
  std::string name;  // "git"
  std::string state; // flow::DestinationState name
  int attempts = 0;
  std::string error;
  std::string reference;
  std::optional<std::int64_t> first_failure; // epoch seconds
  std::optional<std::int64_t> last_attempt;
  std::optional<std::int64_t> next_attempt;
  bool operator==(const DestinationRecord&) const = default;
};

struct BuildRecord {
  std::string id;
  std::string env_path;    // "users/alice"
  std::string env_name;    // "my-env"
  std::string env_version; // "1"
  std::string spec_json;   // spec::to_json
  std::string spec_hash;
  std::string state; // flow::BuildState name
  std::string error;
  std::string build_dir;
  std::string published_ref;
  bool cancel_requested = false;
  std::int64_t requested = 0; // epoch seconds
  std::optional<std::int64_t> started;
  std::optional<std::int64_t> done;
  // Who asked: auth::kind_name of the requester ("" in rows recorded before identities), its
  // name and uid (users).
  std::string requester_kind;
  std::string requester_name;
  std::optional<std::int64_t> requester_uid;
  std::string queue_reason;                    // why a queued build waits; "" otherwise
  std::vector<StageRecord> stages;             // in flow order
  std::vector<DestinationRecord> destinations; // in publishing order
  bool operator==(const BuildRecord&) const = default;
};

class Store {
public:
  // Opens (creating if needed) the database file and applies the schema migrations.
  static Expected<std::unique_ptr<Store>> open(const std::filesystem::path& path);
  virtual ~Store() = default;

  // Writes the build, its stages and its destinations as given, in one transaction: only the
  // rows that changed since this store last saved the build (all of them the first time).
  virtual Expected<void> save(const BuildRecord& build) = 0;
  virtual Expected<std::optional<BuildRecord>> get(const std::string& id) = 0;
  // All builds, oldest request first (stages and destinations included).
  virtual Expected<std::vector<BuildRecord>> all() = 0;
  // Builds whose state is not published, failed or cancelled, oldest request first.
  virtual Expected<std::vector<BuildRecord>> unfinished() = 0;
  // Records a webhook delivery id as handled; false when it was already recorded. The service
  // records a delivery only once its work is done, so that a redelivery of a failed one is
  // handled again.
  virtual Expected<bool> record_delivery(const std::string& delivery_id) = 0;
  // Whether the delivery id has been recorded.
  virtual Expected<bool> delivery_recorded(const std::string& delivery_id) = 0;
  // The build the webhook last started for environment `env` ("users/alice/env-1") read at
  // `commit`, if any; recording another replaces it.
  virtual Expected<std::optional<std::string>> build_from_commit(const std::string& commit,
                                                                 const std::string& env) = 0;
  virtual Expected<void> record_build_from_commit(const std::string& commit, const std::string& env,
                                                  const std::string& build_id) = 0;
  // Rows of builds, stages and destinations save() has inserted, updated or deleted so far.
  virtual std::size_t rows_written() const = 0;
};

} // namespace softpack::store
