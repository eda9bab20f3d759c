#include "artifacts/module_files.hpp"

#include "artifacts/spack_lock.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <set>

#include <boost/json.hpp>

namespace softpack::artifacts {

namespace json = boost::json;
using render::List;
using render::Map;

std::string env_scripts_dir(const std::string& scripts_dir, const spec::EnvironmentSpec& spec) {
  return scripts_dir + "/" + spec.path + "/" + spec.name + "/" + spec.version + "-scripts";
}

std::string module_name(const std::string& load_prefix, const spec::EnvironmentSpec& spec) {
  std::string name = spec.path + "/" + spec.name + "/" + spec.version;
  return load_prefix.empty() ? name : load_prefix + "/" + name;
}

std::vector<std::string> parse_executables(std::string_view ls_output,
                                           std::vector<std::string>* skipped) {
  std::set<std::string> names;
  for (auto raw : split_lines(ls_output)) {
    const auto line = trim(raw);
    if (line.empty()) {
      continue;
    }
    const bool ok = line[0] != '.' &&
                    line.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                           "0123456789_.+-") == std::string_view::npos;
    if (ok) {
      names.insert(std::string(line));
    } else if (skipped) {
      skipped->push_back(printable(line));
    }
  }
  return {names.begin(), names.end()};
}

Expected<ModuleFiles> render_module_files(const ModuleInputs& in,
                                          const render::TemplateSet& templates) {
  const std::string scripts = env_scripts_dir(in.scripts_dir, in.spec);
  const std::string image = scripts + "/singularity.sif";

  std::vector<std::string> package_specs;
  for (const auto& p : in.concrete.empty() ? in.spec->packages : in.concrete) {
    package_specs.push_back(p.to_spec());
  }

  List description_lines;
  const auto description = std::string(trim(in.spec->description));
  for (auto line : split_lines(description)) {
    description_lines.emplace_back(std::string(line));
  }
  List exes_tcl, exes_md, exes_plain;
  for (const auto& exe : in.executables) {
    exes_tcl.push_back(Map{{"bullet", "  - " + exe}});
    exes_md.push_back(Map{{"name", exe}});
  }
  List deps;
  for (const auto& d : in.dependencies) {
    deps.emplace_back(d);
  }

  ModuleFiles files;
  auto module = templates.render("module.tcl.mustache",
                                 Map{{"description_lines", description_lines},
                                     {"executables", exes_tcl},
                                     {"whatis_name", "Name: " + in.spec->name},
                                     {"whatis_version", "Version: " + in.spec->version},
                                     {"whatis_packages", "Packages: " + join(package_specs, ", ")},
                                     {"dependencies", deps},
                                     {"scripts_dir", scripts}});
  if (!module) {
    return module.error();
  }
  files.module = std::move(*module);

  auto readme = templates.render(
      "README.md.mustache",
      Map{{"module_name", module_name(in.load_prefix, in.spec)}, {"executables", exes_md}});
  if (!readme) {
    return readme.error();
  }
  files.readme = std::move(*readme);

  // softpack-web reads the executables from this sentence in the description.
  std::string full_description = description;
  full_description += (full_description.empty() ? "" : "\n");
  full_description += "The following executables are added to your PATH:";
  for (const auto& exe : in.executables) {
    full_description += "\n  - " + exe;
  }
  List pkgs;
  for (const auto& p : package_specs) {
    pkgs.emplace_back(p);
  }
  auto yml = templates.render("softpack.yml.mustache",
                              Map{{"description", full_description}, {"packages", pkgs}});
  if (!yml) {
    return yml.error();
  }
  files.softpack_yml = std::move(*yml);

  const std::string exec_cmd = sh_join(in.exec_command);
  for (const auto& exe : in.executables) {
    auto w = templates.render("wrapper.sh.mustache",
                              Map{{"exe", exe}, {"image", image}, {"exec_command", exec_cmd}});
    if (!w) {
      return w.error();
    }
    files.wrappers[exe] = std::move(*w);
  }
  return files;
}

namespace {

Expected<std::vector<std::string>> string_array(const json::object& o, const char* key) {
  std::vector<std::string> out;
  const auto* v = o.if_contains(key);
  if (!v || !v->is_array()) {
    return make_error(ErrorKind::invalid_input, std::string("expected an array: ") + key,
                      "build.json");
  }
  for (const auto& item : v->as_array()) {
    if (!item.is_string()) {
      return make_error(ErrorKind::invalid_input, std::string("expected strings in ") + key,
                        "build.json");
    }
    out.emplace_back(item.as_string());
  }
  return out;
}

std::string string_field(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

} // namespace

Expected<void> run_module_stage(const std::filesystem::path& build_dir) {
  auto build_json = read_file(build_dir / "build.json", 1 << 20);
  if (!build_json) {
    return build_json.error();
  }
  boost::system::error_code ec;
  json::value doc = json::parse(*build_json, ec);
  if (ec || !doc.is_object()) {
    return make_error(ErrorKind::invalid_input, "not a JSON object", "build.json");
  }
  const auto& o = doc.as_object();
  const auto* spec_value = o.if_contains("spec");
  if (!spec_value) {
    return make_error(ErrorKind::invalid_input, "no spec", "build.json");
  }
  auto spec = spec::from_json(json::serialize(*spec_value));
  if (!spec) {
    return spec.error().with_context("build.json");
  }
  ModuleInputs in;
  in.spec = *spec;
  auto exec_command = string_array(o, "exec_command");
  auto deps = string_array(o, "module_dependencies");
  if (!exec_command) {
    return exec_command.error();
  }
  if (!deps) {
    return deps.error();
  }
  in.exec_command = *exec_command;
  in.dependencies = *deps;
  in.scripts_dir = string_field(o, "scripts_dir");
  in.load_prefix = string_field(o, "module_load_prefix");

  const auto out = build_dir / "out";
  auto lock = read_file(out / "spack.lock", 64 << 20);
  if (!lock) {
    return lock.error();
  }
  auto roots = parse_lock_roots(*lock);
  if (!roots) {
    return roots.error();
  }
  in.concrete = in_requested_order(std::move(*roots), in.spec->packages);
  auto ls = read_file(out / "executables", 16 << 20);
  if (!ls) {
    return ls.error();
  }
  std::vector<std::string> skipped;
  in.executables = parse_executables(*ls, &skipped);
  for (const auto& s : skipped) {
    std::fprintf(stderr, "softpack-builder: skipping executable with an unusual name: %s\n",
                 s.c_str());
  }

  render::TemplateSet templates(string_field(o, "templates_dir"));
  auto files = render_module_files(in, templates);
  if (!files) {
    return files.error();
  }
  for (const auto& [name, content] :
       {std::pair<std::string, const std::string*>{"module", &files->module},
        {"README.md", &files->readme},
        {"softpack.yml", &files->softpack_yml}}) {
    if (auto w = write_file_atomic(out / name, *content); !w) {
      return w;
    }
  }
  for (const auto& [exe, script] : files->wrappers) {
    if (auto w = write_file_atomic(out / "scripts" / exe, script, 0755); !w) {
      return w;
    }
  }
  std::printf("softpack-builder: wrote module, README.md, softpack.yml and %zu wrapper(s)\n",
              files->wrappers.size());
  return {};
}

} // namespace softpack::artifacts
