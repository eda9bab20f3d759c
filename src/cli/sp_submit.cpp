#include "cli/sp_submit.hpp"

#include "cli/common.hpp"
#include "flow/plan.hpp"
#include "util/fs.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

namespace softpack::cli {

namespace {

Expected<spec::EnvironmentSpec> read_spec(const std::string& file, const std::string& name,
                                          const std::string& version) {
  std::string text;
  std::string source = file;
  if (file == "-") {
    source = "<stdin>";
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    auto r = read_file(file, 4 << 20);
    if (!r) {
      Error e = r.error();
      e.kind = ErrorKind::invalid_input;
      return e;
    }
    text = std::move(*r);
  }
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    if (!name.empty() || !version.empty()) {
      return make_error(ErrorKind::invalid_input,
                        "--name and --version are taken from a JSON request; leave them out",
                        source);
    }
    auto s = spec::parse_build_request_json(text);
    if (!s) {
      return s.error().with_context(source);
    }
    return s;
  }
  if (name.empty() || version.empty()) {
    return make_error(ErrorKind::invalid_input,
                      "--name users/<user>/<env> (or groups/<group>/<env>) and --version are "
                      "required with a softpack.yml",
                      source);
  }
  auto parts = spec::split_full_path(name, "--name");
  if (!parts) {
    return parts.error();
  }
  return spec::parse_softpack_yml(text, source, parts->first, parts->second, version);
}

int dry_run(const config::Config& config, const spec::EnvironmentSpec& spec,
            const std::string& dir) {
  render::TemplateSet templates(config.templates_dir);
  auto plan = flow::make_plan(config, spec, "dry-run", templates);
  if (!plan) {
    std::cerr << "sp-submit: " << plan.error().describe() << "\n";
    return exit_code_for(plan.error());
  }
  const std::filesystem::path out = dir;
  if (auto w = write_file_atomic(out / "spack.yaml", plan->spack_yaml); !w) {
    std::cerr << "sp-submit: " << w.error().describe() << "\n";
    return k_exit_internal;
  }
  for (const auto& stage : plan->stages) {
    if (auto w = write_file_atomic(out / (stage.name + ".sh"), stage.script, 0755); !w) {
      std::cerr << "sp-submit: " << w.error().describe() << "\n";
      return k_exit_internal;
    }
    std::cout << out.string() << "/" << stage.name << ".sh  (job " << stage.job_name;
    if (!stage.after.empty()) {
      std::cout << ", after " << stage.after.front();
    }
    std::cout << ")\n";
  }
  std::cout << out.string() << "/spack.yaml\n";
  std::cout << "dry run: nothing was submitted (scripts refer to build directory "
            << plan->build_dir.string() << ")\n";
  return k_exit_ok;
}

} // namespace

int sp_submit_main(int argc, char** argv) {
  CLI::App app{"sp-submit: build a Spack environment into a container image and module, as batch "
               "jobs on the site's scheduler"};
  std::string spec_file, name, version, dry_run_dir;
  std::optional<std::string> config_file;
  RunOptions options;
  app.add_option("spec", spec_file,
                 "softpack.yml (description + packages), or a softpack-core JSON request; - "
                 "for stdin")
      ->required();
  app.add_option("--name", name, "environment path and name: users/<user>/<env> or "
                                 "groups/<group>/<env>");
  app.add_option("--version", version, "environment version, e.g. 1");
  app.add_option("--config", config_file, "site configuration (YAML)");
  app.add_flag("--wait", options.wait, "print each stage's transitions while waiting");
  app.add_flag("-v,--verbose", options.verbose, "log what the engine does");
  app.add_option("--dry-run", dry_run_dir,
                 "write the job scripts and spack.yaml into DIR; submit nothing");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? k_exit_ok : k_exit_bad_input;
  }

  auto config = load_site_config(config_file);
  if (!config) {
    std::cerr << "sp-submit: " << config.error().describe() << "\n";
    return k_exit_config;
  }
  auto spec = read_spec(spec_file, name, version);
  if (!spec) {
    std::cerr << "sp-submit: " << spec.error().describe() << "\n";
    return exit_code_for(spec.error());
  }
  if (!dry_run_dir.empty()) {
    return dry_run(*config, *spec, dry_run_dir);
  }
  return run_build(*config, *spec, options, std::cout, std::cerr);
}

} // namespace softpack::cli
