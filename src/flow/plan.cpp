#include "flow/plan.hpp"

#include "util/fs.hpp"
#include "util/text.hpp"

#include <random>
#include <unistd.h>

#include <boost/json.hpp>

namespace softpack::flow {

namespace json = boost::json;
using render::List;
using render::Map;
using render::Value;

std::filesystem::path BuildPlan::script_path(const std::string& stage) const {
  return build_dir / "scripts" / (stage + ".sh");
}
std::filesystem::path BuildPlan::log_path(const std::string& stage) const {
  return build_dir / "logs" / (stage + ".out");
}
std::filesystem::path BuildPlan::result_path(const std::string& stage) const {
  return build_dir / "logs" / (stage + ".result");
}
std::filesystem::path BuildPlan::started_path(const std::string& stage) const {
  return build_dir / "logs" / (stage + ".started");
}

scheduler::JobSpec BuildPlan::job_spec(const StagePlan& stage,
                                       std::vector<scheduler::JobId> after) const {
  scheduler::JobSpec js;
  js.name = stage.job_name;
  js.comment = build_id;
  js.script = script_path(stage.name);
  js.workdir = build_dir;
  js.stdout_path = log_path(stage.name);
  js.stderr_path = js.stdout_path;
  js.after_ok = std::move(after);
  js.resources = stage.resources;
  return js;
}

std::string new_build_id(SystemTime now) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::string stamp = format_rfc3339(now); // 2026-11-25T06:46:36Z
  std::string compact;
  for (char c : stamp) {
    if (c != '-' && c != ':') {
      compact += c;
    }
  }
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rng() & 0xffffffffu));
  return compact + "-" + suffix;
}

std::string job_name(const spec::EnvironmentSpec& spec, std::string_view stage) {
  return "sp." + spec.owner() + "." + spec.name + "-" + spec.version + "." + std::string(stage);
}

std::string builder_command(const config::Config& config) {
  if (!config.jobs.builder_command.empty()) {
    return config.jobs.builder_command;
  }
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    buf[n] = '\0';
    return (std::filesystem::path(buf).parent_path() / "softpack-builder").string();
  }
  return "softpack-builder";
}

Expected<std::string> render_spack_yaml(const config::Config& config,
                                        const spec::EnvironmentSpec& spec,
                                        const render::TemplateSet& templates,
                                        const std::filesystem::path& build_dir, bool image) {
  List specs;
  for (const auto& pkg : spec.packages) {
    std::string s = pkg.to_spec();
    if (!config.spack.target.empty()) {
      s += " arch=None-None-" + config.spack.target;
    }
    specs.push_back(Map{{"spec", s}});
  }
  // The custom repository: in the image, where the recipe puts it; for the concretize stage,
  // the directory, or the stage's clone of a git URL.
  std::string repo;
  if (!config.spack.repo.empty()) {
    repo = image                                   ? std::string(k_image_spack_repo)
           : config::is_git_url(config.spack.repo) ? (build_dir / "concretize" / "repo").string()
                                                   : config.spack.repo;
  }
  Map data{
      {"specs", specs},
      {"has_repo", !repo.empty()},
      {"repo", repo},
      {"image", image},
      {"padded_length", std::to_string(config.spack.padded_length)},
      {"has_padding", config.spack.padded_length > 0},
  };
  return templates.render("spack.yaml.mustache", data);
}

Expected<std::string> render_singularity_def(const config::Config& config,
                                             const spec::EnvironmentSpec& spec,
                                             const render::TemplateSet& templates,
                                             const std::filesystem::path& build_dir) {
  auto manifest = render_spack_yaml(config, spec, templates, build_dir, true);
  if (!manifest) {
    return manifest.error();
  }
  while (!manifest->empty() && manifest->back() == '\n') {
    manifest->pop_back();
  }
  List caches;
  std::string push_cache;
  for (std::size_t i = 0; i < config.spack.binary_caches.size(); ++i) {
    const auto& c = config.spack.binary_caches[i];
    const std::string name = "softpack-cache-" + std::to_string(i + 1);
    caches.push_back(Map{{"name", name}, {"url", c.url}});
    if (c.push && push_cache.empty()) {
      push_cache = name;
    }
  }
  // The module exposes the executables of the requested packages, and the interpreter of
  // Python and R packages.
  List packages;
  bool python = false;
  bool r = false;
  for (const auto& pkg : spec.packages) {
    packages.push_back(Map{{"name", pkg.name}});
    python = python || pkg.name.starts_with("py-");
    r = r || pkg.name.starts_with("r-");
  }
  List extra;
  if (python) {
    extra.push_back(Map{{"name", std::string("python")}});
  }
  if (r) {
    extra.push_back(Map{{"name", std::string("R")}});
    extra.push_back(Map{{"name", std::string("Rscript")}});
  }
  const bool git_repo = config::is_git_url(config.spack.repo);
  Map data{
      {"build_image", config.spack.build_image},
      {"final_image", config.spack.final_image},
      {"manifest", *manifest},
      // (kainjow mustache takes an empty string as true: each optional value has its flag)
      {"has_repo_dir", !config.spack.repo.empty() && !git_repo},
      {"repo_dir", config.spack.repo},
      {"has_repo_url", git_repo},
      {"repo_url", config.spack.repo},
      {"repo_commit", std::string(k_repo_commit_placeholder)},
      {"caches", caches},
      {"has_caches", !caches.empty()},
      {"has_push_cache", !push_cache.empty()},
      {"push_cache", push_cache},
      {"unsigned", config.spack.unsigned_caches},
      {"packages", packages},
      {"extra_executables", extra},
  };
  return templates.render("singularity.def.mustache", data);
}

namespace {

std::string make_build_json(const config::Config& config, const spec::EnvironmentSpec& spec,
                            const std::string& build_id) {
  json::object o;
  o["build_id"] = build_id;
  o["spec"] = json::parse(spec::to_json(spec));
  json::array exec_cmd;
  for (const auto& w : config.container.exec_command) {
    exec_cmd.emplace_back(w);
  }
  json::array deps;
  for (const auto& d : config.module.dependencies) {
    deps.emplace_back(d);
  }
  o["exec_command"] = std::move(exec_cmd);
  o["module_dependencies"] = std::move(deps);
  o["module_load_prefix"] = config.module.load_prefix;
  o["scripts_dir"] = config.scripts_dir();
  o["templates_dir"] = config.templates_dir.string();
  return json::serialize(o) + "\n";
}

} // namespace

Expected<void> destinations_accept(const std::vector<artifacts::Publisher*>& destinations,
                                   const spec::EnvironmentSpec& spec) {
  for (const auto* d : destinations) {
    if (auto ok = d->accepts(spec); !ok) {
      return ok;
    }
  }
  return {};
}

Expected<BuildPlan> make_plan(const config::Config& config, const spec::ValidSpec& spec,
                              const std::string& build_id, const render::TemplateSet& templates) {
  BuildPlan plan;
  plan.build_id = build_id;
  plan.spec = spec;
  plan.build_dir = std::filesystem::absolute(config.builds_dir() / build_id);
  auto yaml = render_spack_yaml(config, spec, templates, plan.build_dir, false);
  if (!yaml) {
    return yaml.error();
  }
  plan.spack_yaml = std::move(*yaml);
  auto def = render_singularity_def(config, spec, templates, plan.build_dir);
  if (!def) {
    return def.error();
  }
  plan.singularity_def = std::move(*def);
  if (config::is_git_url(config.spack.repo)) {
    plan.spack_repo_url = config.spack.repo;
  }
  plan.build_json = make_build_json(config, spec, build_id);

  List environment;
  for (const auto& [k, v] : config.jobs.environment) {
    environment.push_back(Map{{"name", k}, {"value", v}});
  }
  const Map body_data{
      {"spack", sh_join(config.spack.command)},
      {"build_command", sh_join(config.container.build_command)},
      {"exec_command", sh_join(config.container.exec_command)},
      {"builder_command", sh_quote(builder_command(config))},
      {"spack_cache",
       sh_quote(std::filesystem::absolute(config.spack.cache_dir.empty()
                                              ? config.data_dir / "spack-cache"
                                              : std::filesystem::path(config.spack.cache_dir))
                    .string())},
      {"git_repo", !plan.spack_repo_url.empty()},
      {"repo_url", plan.spack_repo_url},
      {"has_repo_ref", !config.spack.repo_ref.empty()},
      {"repo_ref", config.spack.repo_ref},
      {"repo_commit_placeholder", std::string(k_repo_commit_placeholder)},
  };
  std::string previous;
  for (const auto& stage : stage_names()) {
    auto body = templates.render(stage + ".sh.mustache", body_data);
    if (!body) {
      return body.error();
    }
    const Map job_data{
        {"path", config.jobs.path},
        {"environment", environment},
        {"build_dir", plan.build_dir.string()},
        {"stage", stage},
        {"result_file", plan.result_path(stage).string()},
        {"started_file", plan.started_path(stage).string()},
        {"body", *body},
    };
    auto script = templates.render("job.sh.mustache", job_data);
    if (!script) {
      return script.error();
    }
    StagePlan sp;
    sp.name = stage;
    sp.job_name = job_name(spec, stage);
    sp.script = std::move(*script);
    if (!previous.empty()) {
      sp.after.push_back(previous);
    }
    sp.resources = config.resources_for(stage);
    plan.stages.push_back(std::move(sp));
    previous = stage;
  }
  return plan;
}

Expected<void> write_plan(const BuildPlan& plan) {
  if (std::filesystem::exists(plan.build_dir / "build.json")) {
    return make_error(ErrorKind::internal, "build directory already holds a build",
                      plan.build_dir.string());
  }
  for (const auto* sub : {"env", "scripts", "logs", "out"}) {
    if (auto r = make_directories(plan.build_dir / sub); !r) {
      return r;
    }
  }
  if (auto r = write_file_atomic(plan.build_dir / "env" / "spack.yaml", plan.spack_yaml); !r) {
    return r;
  }
  if (auto r = write_file_atomic(plan.build_dir / "env" / "singularity.def", plan.singularity_def);
      !r) {
    return r;
  }
  for (const auto& stage : plan.stages) {
    if (auto r = write_file_atomic(plan.script_path(stage.name), stage.script, 0755); !r) {
      return r;
    }
  }
  // build.json last: its presence marks a complete build directory.
  return write_file_atomic(plan.build_dir / "build.json", plan.build_json);
}

} // namespace softpack::flow
