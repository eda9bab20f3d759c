#pragma once

// Backends by name, from one explicit table: "local", "slurm", "lsf".

#include "config/config.hpp"
#include "scheduler/scheduler.hpp"
#include "util/command.hpp"

#include <memory>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace softpack::scheduler {

struct BackendContext {
  boost::asio::io_context& io;
  CommandRunner& runner;
  const config::Config& config;
};

std::vector<std::string_view> backend_names();
// The configured backend, or an error naming the unknown or unavailable one.
Expected<std::unique_ptr<Scheduler>> make_scheduler(std::string_view name,
                                                    const BackendContext& context);

} // namespace softpack::scheduler
