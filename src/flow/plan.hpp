#pragma once

// A build as a plan: the build directory's files (spack.yaml, build.json, one job script per
// stage) and the stage DAG. Making a plan renders templates but touches nothing; writing it
// creates the build directory.
//
// Build directory layout (everything a stage reads or writes is inside it):
//   build.json            the spec and the parameters the module stage needs
//   env/spack.yaml        the Spack environment the concretize stage checks (never changed)
//   env/singularity.def   the image recipe (templates/singularity.def.mustache)
//   concretize/           the concretize stage's copy of spack.yaml, its spack.lock, store,
//                         TMPDIR, and a git spack.repo's clone (repo/, repo.commit)
//   scripts/<stage>.sh    the job scripts
//   logs/<stage>.out      each job's stdout+stderr
//   logs/<stage>.started  written when the job starts (epoch seconds)
//   logs/<stage>.result   written when the job ends: exit=, start=, end=, signal=, host=
//   out/                  the artifacts: spack.lock (the image's), singularity.def,
//                         singularity.sif, executables, module, README.md, softpack.yml,
//                         scripts/<exe>

#include "artifacts/publisher.hpp"
#include "config/config.hpp"
#include "render/template.hpp"
#include "scheduler/scheduler.hpp"
#include "spec/spec.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace softpack::flow {

// The first stage: `spack concretize` of the environment.
inline constexpr std::string_view k_concretize_stage = "concretize";

// The stages of every build, in dependency order (each depends on the one before).
inline const std::vector<std::string>& stage_names() {
  static const std::vector<std::string> names{"concretize", "build", "module"};
  return names;
}

struct StagePlan {
  std::string name;               // "concretize"
  std::string job_name;           // "sp.<owner>.<env>-<version>.<stage>"
  std::string script;             // the rendered job script
  std::vector<std::string> after; // names of the stages this one needs to have succeeded
  scheduler::Resources resources;
};

struct BuildPlan {
  std::string build_id;
  spec::ValidSpec spec;
  std::filesystem::path build_dir;
  std::string spack_yaml;
  std::string singularity_def;
  std::string build_json;
  // spack.repo when it is a git URL (its commit is resolved by the concretize stage).
  std::string spack_repo_url;
  std::vector<StagePlan> stages;

  std::filesystem::path script_path(const std::string& stage) const;
  std::filesystem::path log_path(const std::string& stage) const;
  std::filesystem::path result_path(const std::string& stage) const;
  std::filesystem::path started_path(const std::string& stage) const;
  std::filesystem::path out_dir() const { return build_dir / "out"; }
  // One line per restart of the service that made stages run again (see FlowEngine::resume).
  std::filesystem::path restarts_log() const { return build_dir / "logs" / "restarts.log"; }
  // The commit of a git spack.repo that the build uses, written by the concretize stage.
  std::filesystem::path spack_repo_commit() const {
    return build_dir / "concretize" / "repo.commit";
  }
  // The scheduler job for a stage, with its dependencies resolved to job ids.
  scheduler::JobSpec job_spec(const StagePlan& stage, std::vector<scheduler::JobId> after) const;
};

// "20261125T064636Z-3fa9c2b1": sortable, unique enough for one site.
std::string new_build_id(SystemTime now);
// "sp.<owner>.<env>-<version>.<stage>" (owner = user or group name).
std::string job_name(const spec::EnvironmentSpec& spec, std::string_view stage);

// Where the recipe clones or copies spack.repo in the image.
inline constexpr std::string_view k_image_spack_repo = "/opt/spack-repo";
// In the rendered recipe, the commit of a git spack.repo, filled in by the build stage from
// what the concretize stage resolved.
inline constexpr std::string_view k_repo_commit_placeholder = "@SPACK_REPO_COMMIT@";

// Renders spack.yaml for a spec (exposed for sp-submit --dry-run and tests): for the concretize
// stage in build_dir, or (image) the manifest the recipe installs in the image.
Expected<std::string> render_spack_yaml(const config::Config& config,
                                        const spec::EnvironmentSpec& spec,
                                        const render::TemplateSet& templates,
                                        const std::filesystem::path& build_dir, bool image);

// Renders the image recipe (templates/singularity.def.mustache) for a spec.
Expected<std::string> render_singularity_def(const config::Config& config,
                                             const spec::EnvironmentSpec& spec,
                                             const render::TemplateSet& templates,
                                             const std::filesystem::path& build_dir);

// Whether every destination takes a build of `spec` (Publisher::accepts: e.g. its names make a
// valid repository and tag in the OCI registry). Submissions are refused (invalid_input) on
// what this finds, before anything is accepted.
Expected<void> destinations_accept(const std::vector<artifacts::Publisher*>& destinations,
                                   const spec::EnvironmentSpec& spec);

Expected<BuildPlan> make_plan(const config::Config& config, const spec::ValidSpec& spec,
                              const std::string& build_id, const render::TemplateSet& templates);

// Creates the build directory and writes the plan's files. Refuses to reuse a directory that
// already holds a plan (a build id is never reused).
Expected<void> write_plan(const BuildPlan& plan);

// The executable the module stage calls: config.jobs.builder_command, or this program's
// softpack-builder (found next to the running executable).
std::string builder_command(const config::Config& config);

} // namespace softpack::flow
