#pragma once

// Between the engine's view of a build (flow::BuildStatus) and the store's rows
// (store::BuildRecord): times as epoch seconds, states as their names, the spec as its canonical
// JSON (which the spec carries; nothing is serialised again here).

#include "flow/build_status.hpp"
#include "store/store.hpp"

#include <string_view>

namespace softpack::service {

store::BuildRecord to_record(const flow::BuildStatus& build, std::string_view scheduler_name);
// Errors (internal) name the stored build: a spec or state the store should not hold.
Expected<flow::BuildStatus> from_record(const store::BuildRecord& record);

} // namespace softpack::service
