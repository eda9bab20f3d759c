#include "scheduler/registry.hpp"

#include "scheduler/local/local_executor.hpp"
#include "scheduler/lsf/lsf_scheduler.hpp"
#include "scheduler/slurm/slurm_scheduler.hpp"

namespace softpack::scheduler {

namespace {

using Factory = Expected<std::unique_ptr<Scheduler>> (*)(const BackendContext&);

Expected<std::unique_ptr<Scheduler>> make_local(const BackendContext& ctx) {
  LocalExecutorOptions options;
  options.max_running = ctx.config.scheduler.local_max_running;
  return std::unique_ptr<Scheduler>(std::make_unique<LocalExecutor>(ctx.io, options));
}

Expected<std::unique_ptr<Scheduler>> make_slurm(const BackendContext& ctx) {
  const auto& c = ctx.config.scheduler.slurm;
  slurm::SlurmOptions options;
  options.requeue = c.requeue;
  options.timeout_signal = c.timeout_signal;
  options.command_timeout = c.command_timeout;
  options.retries = c.retries;
  return std::unique_ptr<Scheduler>(std::make_unique<slurm::SlurmScheduler>(ctx.runner, options));
}

Expected<std::unique_ptr<Scheduler>> make_lsf(const BackendContext& ctx) {
  const auto& c = ctx.config.scheduler.lsf;
  lsf::LsfOptions options;
  options.retry.command_timeout = c.command_timeout;
  options.retry.retries = c.retries;
  options.unit_for_limits = c.unit_for_limits;
  options.json = c.json == "true"    ? lsf::JsonMode::on
                 : c.json == "false" ? lsf::JsonMode::off
                                     : lsf::JsonMode::detect;
  options.job_group_root = c.job_group_root;
  return std::unique_ptr<Scheduler>(std::make_unique<lsf::LsfScheduler>(ctx.runner, options));
}

struct Backend {
  std::string_view name;
  Factory factory;
};

constexpr Backend k_backends[] = {
    {"local", make_local},
    {"slurm", make_slurm},
    {"lsf", make_lsf},
};

} // namespace

std::vector<std::string_view> backend_names() {
  std::vector<std::string_view> names;
  for (const auto& b : k_backends) {
    names.push_back(b.name);
  }
  return names;
}

Expected<std::unique_ptr<Scheduler>> make_scheduler(std::string_view name,
                                                    const BackendContext& context) {
  for (const auto& b : k_backends) {
    if (b.name == name) {
      return b.factory(context);
    }
  }
  return make_error(ErrorKind::config, "unknown scheduler backend '" + std::string(name) + "'",
                    "scheduler.backend");
}

} // namespace softpack::scheduler
