#include "cli/sp_submit.hpp"

#include "cli/answers.hpp"
#include "cli/common.hpp"
#include "cli/run_build.hpp"
#include "cli/service_client.hpp"
#include "cli/wiring.hpp"
#include "flow/plan.hpp"
#include "util/fs.hpp"
#include "util/http_client.hpp"
#include "util/text.hpp"

#include <filesystem>
#include <iostream>
#include <thread>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

namespace softpack::cli {

Expected<EnvironmentName> infer_environment(const std::filesystem::path& spec_file) {
  const std::filesystem::path dir = spec_file.parent_path();
  const std::string leaf = dir.filename().string();
  const std::string owner = dir.parent_path().filename().string();
  const std::string kind = dir.parent_path().parent_path().filename().string();
  const std::string give =
      "; give --name users/<user>/<env> (or groups/<group>/<env>) and --version";
  const auto split = spec::split_versioned_name(leaf);
  if (!split) {
    return make_error(ErrorKind::invalid_input,
                      "cannot tell the environment's name and version from the directory '" +
                          printable(leaf) +
                          "': softpack-core names it <name>-<number> (e.g. my-env-1)" + give,
                      spec_file.string());
  }
  if (kind != "users" && kind != "groups") {
    return make_error(ErrorKind::invalid_input,
                      "cannot tell whose environment '" + printable(leaf) +
                          "' is: its directory is not in users/<user>/ or groups/<group>/" + give,
                      spec_file.string());
  }
  return EnvironmentName{kind + "/" + owner + "/" + split->first, split->second};
}

namespace {

Expected<spec::ValidSpec> read_spec(std::string file, std::string name, std::string version) {
  std::string text;
  std::string source = file;
  if (file == "-") {
    source = "<stdin>";
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec)) {
      file = (std::filesystem::path(file) / "softpack.yml").string();
      source = file;
    }
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
  if (name.empty() != version.empty()) {
    return make_error(ErrorKind::invalid_input,
                      "give both --name and --version, or neither to take them from the "
                      "directory the softpack.yml is in (users/<user>/<name>-<number>)",
                      source);
  }
  if (name.empty()) {
    if (file == "-") {
      return make_error(ErrorKind::invalid_input,
                        "--name users/<user>/<env> (or groups/<group>/<env>) and --version are "
                        "required with a softpack.yml on stdin",
                        source);
    }
    auto inferred = infer_environment(std::filesystem::absolute(file).lexically_normal());
    if (!inferred) {
      return inferred.error();
    }
    name = inferred->name;
    version = inferred->version;
  }
  auto parts = spec::split_full_path(name, "--name");
  if (!parts) {
    return parts.error();
  }
  return spec::parse_softpack_yml(text, source, parts->first, parts->second, version);
}

int dry_run(const config::Config& config, const spec::ValidSpec& spec, const std::string& dir) {
  // The destinations are made (not used) so that a spec one of them would refuse is refused
  // here as in a real run.
  auto wired = wire(config);
  if (!wired) {
    std::cerr << "sp-submit: " << wired.error().describe() << "\n";
    return exit_code_for(wired.error());
  }
  if (auto ok = flow::destinations_accept((*wired)->backends.publishers(), spec); !ok) {
    std::cerr << "sp-submit: " << ok.error().describe() << "\n";
    return exit_code_for(ok.error());
  }
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
  if (auto w = write_file_atomic(out / "singularity.def", plan->singularity_def); !w) {
    std::cerr << "sp-submit: " << w.error().describe() << "\n";
    return k_exit_internal;
  }
  std::cout << out.string() << "/spack.yaml\n";
  std::cout << out.string() << "/singularity.def\n";
  std::cout << "dry run: nothing was submitted (scripts refer to build directory "
            << plan->build_dir.string() << ")\n";
  return k_exit_ok;
}

// The JSON request softpack-core sends, for a spec.
std::string build_request_json(const spec::EnvironmentSpec& spec) {
  boost::json::array packages;
  for (const auto& p : spec.packages) {
    packages.emplace_back(boost::json::object{{"name", p.name}, {"version", p.version}});
  }
  boost::json::object model{{"description", spec.description}, {"packages", packages}};
  return boost::json::serialize(boost::json::object{
      {"name", spec.path + "/" + spec.name}, {"version", spec.version}, {"model", model}});
}

// A 401 or 403: who we are is unknown or may not do this. Prints the service's reason and what
// to do.
int refused(int status, std::string_view body, const ServiceClient& client) {
  std::cerr << "sp-submit: the service refused the request (" << status
            << "): " << refusal_reason(body) << "\nsp-submit: " << client.refusal_hint() << "\n";
  return k_exit_bad_input;
}

// 429: too many requests from this user; the service says when to retry.
int too_many(const HttpResponse& r) {
  std::cerr << "sp-submit: the service refused the request (429): " << refusal_reason(r.body);
  if (const auto after = r.header("retry-after"); !after.empty()) {
    std::cerr << " (Retry-After: " << after << " s)";
  }
  std::cerr << "\n";
  return k_exit_internal;
}

// Submits to a running service; with --wait, follows GET /builds/{id} until the build ends.
int submit_to_server(ServiceClient& client, const spec::ValidSpec& spec, bool wait) {
  const std::string& url = client.where();
  auto r = client.request("POST", "/environments/build", build_request_json(spec.get()));
  if (!r) {
    std::cerr << "sp-submit: " << r.error().describe() << "\n";
    return k_exit_internal;
  }
  if (r->status == 401 || r->status == 403) {
    return refused(static_cast<int>(r->status), r->body, client);
  }
  if (r->status == 429) {
    return too_many(*r);
  }
  if (r->status != 200) {
    std::cerr << "sp-submit: the service answered " << r->status << ": " << refusal_reason(r->body)
              << "\n";
    // 400: the request is wrong; 409: another spec of this environment is building.
    return r->status == 400 || r->status == 409 ? k_exit_bad_input : k_exit_internal;
  }
  auto answer = parse_submit_answer(r->body);
  if (!answer) {
    std::cerr << "sp-submit: " << answer.error().describe() << "\n";
    return k_exit_internal;
  }
  const std::string id = answer->id;
  std::cout << "build " << id << " of " << spec->full_name()
            << (answer->existing ? " (already building)" : "") << " at " << url;
  if (answer->requested_by.kind != auth::Requester::Kind::none) {
    std::cout << " as " << answer->requested_by.display();
  }
  std::cout << std::endl;
  if (!answer->queue_reason.empty()) {
    std::cout << "queued: " << answer->queue_reason << std::endl;
  }
  if (!wait) {
    return k_exit_ok;
  }
  const bool tty = ::isatty(STDOUT_FILENO);
  std::map<std::string, std::string> last;
  std::string last_line;
  while (true) {
    auto b = client.request("GET", "/builds/" + id);
    if (!b) {
      std::cerr << "sp-submit: " << b.error().describe() << " (retrying)\n";
    } else if (b->status == 401 || b->status == 403) {
      return refused(static_cast<int>(b->status), b->body, client);
    } else if (b->status == 200) {
      auto view = parse_build_view(b->body);
      if (!view) {
        std::cerr << "sp-submit: " << view.error().describe() << " (retrying)\n";
      } else {
        std::string line;
        for (const auto& st : view->stages) {
          if (!tty && last[st.name] != st.state) {
            std::cout << st.name << "  job " << st.job_id.value_or("-") << "  " << st.state
                      << std::endl;
          }
          last[st.name] = st.state;
          line += st.name + ":" + st.state + "  ";
        }
        if (tty && line != last_line) {
          std::cout << "\r\033[K" << line << std::flush;
          last_line = line;
        }
        if (view->ended()) {
          if (tty) {
            std::cout << "\n";
          }
          std::cout << "build " << id << " " << view->state;
          if (!view->error.empty()) {
            std::cout << ": " << view->error;
          }
          std::cout << std::endl;
          return view->state == "published" ? k_exit_ok : k_exit_build_failed;
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

} // namespace

int sp_submit_main(int argc, char** argv) {
  CLI::App app{"sp-submit: build a Spack environment into a container image and module, as batch "
               "jobs on the site's scheduler"};
  std::string spec_file, name, version, dry_run_dir;
  std::optional<std::string> config_file;
  RunOptions options;
  app.add_option("spec", spec_file,
                 "softpack.yml (description + packages), a directory holding one, or a "
                 "softpack-core JSON request; - for stdin")
      ->required();
  app.add_option("--name", name,
                 "environment path and name: users/<user>/<env> or groups/<group>/<env> "
                 "(default: from the directory, when it is users/<user>/<env>-<number>)");
  app.add_option("--version", version,
                 "environment version, e.g. 1 (default: the <number> of that directory)");
  app.add_option("--config", config_file, "site configuration (YAML)");
  app.add_flag("--wait", options.wait, "print each stage's transitions while waiting");
  app.add_flag("-v,--verbose", options.verbose, "log what the engine does");
  std::string server_url;
  app.add_option("--server", server_url,
                 "submit to a running softpack-builder service at this URL (e.g. "
                 "http://127.0.0.1:7080; a MUNGE credential says who you are) or Unix socket "
                 "(a path, e.g. /run/softpack-builder/api.sock) instead of running the build "
                 "here");
  std::optional<std::string> token_file;
  app.add_option("--token-file", token_file,
                 "with --server URL: a file holding an API token, for service accounts "
                 "(default: $SOFTPACK_API_TOKEN, else the config's server.api_token_file when "
                 "readable; without one, a MUNGE credential is sent)");
  app.add_option("--dry-run", dry_run_dir,
                 "write the job scripts, spack.yaml and singularity.def into DIR; submit nothing");
  refuse_options_as_values(app);
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
  if (!server_url.empty()) {
    auto token = client_token(token_file, *config);
    if (!token) {
      std::cerr << "sp-submit: " << token.error().describe() << "\n";
      return exit_code_for(token.error());
    }
    ServiceClient client(server_url, *token, *config);
    return submit_to_server(client, *spec, options.wait);
  }
  return run_build(*config, *spec, options, std::cout, std::cerr);
}

} // namespace softpack::cli
