#include "config/config.hpp"

#include "util/fs.hpp"
#include "util/text.hpp"
#include "util/units.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <set>
#include <unistd.h>

#include <boost/url/parse.hpp>

namespace softpack::config {

namespace {

Error bad(const YamlNode& node, std::string_view source, std::string_view key,
          const std::string& message) {
  return make_error(ErrorKind::config, std::string(key) + ": " + message, node.where(source));
}

// "https://user:secret@host/x" (a password in the URL, which would end up in logs).
bool url_has_password(std::string_view url) {
  auto u = boost::urls::parse_uri(url);
  return u && u->has_password();
}

// The options every scheduler backend sets itself, together: extra_args are checked against
// all of them, whichever backend is selected, so that switching backends cannot turn a valid
// configuration into one that overrides what the adapter manages.
std::vector<std::string_view> managed_options(const Schema& schema) {
  std::vector<std::string_view> out;
  for (const auto& s : schema.schedulers) {
    for (auto o : s.managed_options) {
      if (std::find(out.begin(), out.end(), o) == out.end()) {
        out.push_back(o);
      }
    }
  }
  return out;
}

std::string names_of(const std::vector<BackendEntry>& entries, std::string_view last_joint) {
  std::string out;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) {
      out += i + 1 == entries.size() ? std::string(last_joint) : std::string(", ");
    }
    out += entries[i].name;
  }
  return out;
}

// What may not appear in a value that ends up in a shell command or a definition file's line
// (spack.binary_caches URLs, spack.repo).
constexpr std::string_view k_unsafe_in_commands = " \t\n'\"\\$`";
// What names (spack.target, spack.repo_ref) are made of; images may also be pinned by digest
// (name@sha256:...).
constexpr std::string_view k_name_chars =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/-";

// server.tokens: a list of maps {name, file, routes}.
Expected<void> read_service_tokens(MapReader& r, std::vector<ServiceToken>& out) {
  const YamlNode* n = r.get("tokens");
  if (!n) {
    return {};
  }
  if (!n->is_sequence()) {
    return r.report(
        r.error_at(*n, r.key_path("tokens"), "expected a list of maps {name, file, routes}"));
  }
  std::vector<ServiceToken> tokens;
  std::set<std::string> names{"api"};
  for (std::size_t i = 0; i < n->items.size(); ++i) {
    const YamlNode& item = n->items[i];
    const std::string path = r.key_path("tokens") + "[" + std::to_string(i) + "]";
    if (!item.is_map()) {
      SOFTPACK_TRY(r.report(r.error_at(item, path, "expected a map {name, file, routes}")));
      continue;
    }
    MapReader m(item, r.source(), path, r.collector());
    ServiceToken t;
    SOFTPACK_TRY(m.string("name", t.name));
    SOFTPACK_TRY(m.string("file", t.file));
    SOFTPACK_TRY(m.string_list("routes", t.routes, false));
    SOFTPACK_TRY(m.finish());
    std::string problem;
    if (t.name.empty() ||
        t.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "0123456789._-") != std::string::npos) {
      problem =
          "name: expected letters, digits, '.', '_' or '-', found '" + printable(t.name) + "'";
    } else if (!names.insert(t.name).second) {
      problem = "name: '" + t.name + "' is used twice (\"api\" is server.api_token_file's)";
    } else if (t.file.empty()) {
      problem = "file: the file holding the token is required";
    } else if (t.routes.empty()) {
      problem = "routes: expected some of build, cancel, read, all";
    }
    for (const auto& route : t.routes) {
      if (problem.empty() && route != "build" && route != "cancel" && route != "read" &&
          route != "all") {
        problem = "routes: unknown route '" + printable(route) + "' (build, cancel, read, all)";
      }
    }
    if (!problem.empty()) {
      SOFTPACK_TRY(r.report(r.error_at(item, path, problem)));
      continue;
    }
    tokens.push_back(std::move(t));
  }
  out = std::move(tokens);
  return {};
}

// server.user_rate_limit: "N/DURATION" ("30/1m"), or "" / 0 for none.
Expected<void> read_rate_limit(MapReader& r, RateLimitConfig& out) {
  const YamlNode* n = r.get("user_rate_limit");
  if (!n) {
    return {};
  }
  const std::string text = n->is_scalar() ? n->scalar : std::string();
  if (n->is_scalar() && (text.empty() || text == "0")) {
    out = RateLimitConfig{0, std::chrono::seconds(60)};
    return {};
  }
  const auto slash = text.find('/');
  int requests = 0;
  std::optional<std::chrono::seconds> per;
  if (n->is_scalar() && slash != std::string::npos && slash > 0 && slash <= 6 &&
      text.find_first_not_of("0123456789") == slash) {
    requests = std::stoi(text.substr(0, slash));
    if (auto d = parse_duration(text.substr(slash + 1))) {
      per = std::chrono::duration_cast<std::chrono::seconds>(*d);
    }
  }
  if (requests <= 0 || !per || per->count() <= 0) {
    return r.report(r.error_at(*n, r.key_path("user_rate_limit"),
                               "expected requests per time such as 30/1m, or \"\" for none; "
                               "found '" +
                                   printable(text) + "'"));
  }
  out = RateLimitConfig{requests, *per};
  return {};
}

// spack.binary_caches: a list of URLs (read and pushed to) or maps {url, push}.
Expected<void> read_binary_caches(MapReader& r, std::vector<BinaryCache>& out) {
  const YamlNode* n = r.get("binary_caches");
  if (!n) {
    return {};
  }
  if (!n->is_sequence()) {
    return r.report(r.error_at(*n, r.key_path("binary_caches"),
                               "expected a list of URLs or of maps {url, push}"));
  }
  std::vector<BinaryCache> caches;
  for (std::size_t i = 0; i < n->items.size(); ++i) {
    const YamlNode& item = n->items[i];
    const std::string path = r.key_path("binary_caches") + "[" + std::to_string(i) + "]";
    BinaryCache cache;
    if (item.is_scalar()) {
      cache.url = item.scalar;
    } else if (item.is_map()) {
      MapReader m(item, r.source(), path, r.collector());
      SOFTPACK_TRY(m.string("url", cache.url));
      SOFTPACK_TRY(m.boolean("push", cache.push));
      SOFTPACK_TRY(m.finish());
    } else {
      SOFTPACK_TRY(r.report(r.error_at(item, path, "expected a URL or a map {url, push}")));
      continue;
    }
    const auto scheme = cache.url.substr(0, cache.url.find("://"));
    std::string problem;
    if (cache.url.find("://") == std::string::npos ||
        (scheme != "file" && scheme != "s3" && scheme != "oci" && scheme != "http" &&
         scheme != "https")) {
      problem = "'" + printable(cache.url) +
                "' is not a binary cache URL (file://, s3://, oci://, http:// or https://)";
    } else if (cache.url.find_first_of(k_unsafe_in_commands) != std::string::npos) {
      problem = "'" + printable(cache.url) + "' has characters that cannot appear in a URL here";
    } else if (url_has_password(cache.url)) {
      problem = "holds a password: cache credentials never go in this configuration (~/.aws "
                "in the build image for s3://; for oci://, see docs/operations.md, \"The "
                "image recipe\")";
    } else if (cache.push && (scheme == "http" || scheme == "https")) {
      problem = "an http(s):// cache cannot be pushed to: give it push: false";
    }
    if (!problem.empty()) {
      SOFTPACK_TRY(r.report(r.error_at(item, path, problem)));
      continue;
    }
    caches.push_back(std::move(cache));
  }
  out = std::move(caches);
  return {};
}

const BackendEntry* find_entry(const std::vector<BackendEntry>& entries, std::string_view name) {
  for (const auto& e : entries) {
    if (e.name == name) {
      return &e;
    }
  }
  return nullptr;
}

Expected<void> check_extra_args(const std::vector<std::string>& args, const YamlNode& node,
                                std::string_view source, const std::string& key,
                                const Schema& schema) {
  for (const auto& arg : args) {
    const std::string opt = arg.substr(0, arg.find('='));
    for (auto managed : managed_options(schema)) {
      // "-t" also catches "-t01:00" (short option with attached value).
      const bool short_attached = managed.size() == 2 && managed[0] == '-' && managed[1] != '-' &&
                                  starts_with(arg, managed) && arg.size() > 2 && arg[1] != '-';
      if (opt == managed || (short_attached && managed != "-e" && managed != "-n")) {
        return bad(node, source, key,
                   "'" + printable(arg) +
                       "' would override an option softpack-builder sets itself (" +
                       std::string(managed) + "); use the dedicated key instead");
      }
    }
  }
  return {};
}

Expected<void> read_resources(const YamlNode& node, std::string_view source,
                              const std::string& prefix, const Schema& schema,
                              scheduler::Resources& out, std::vector<Error>* collect) {
  MapReader r(node, source, prefix, collect);
  SOFTPACK_TRY(r.check_is_map());
  SOFTPACK_TRY(r.string("partition", out.partition));
  SOFTPACK_TRY(r.string("account", out.account));
  SOFTPACK_TRY(r.string("qos", out.qos));
  SOFTPACK_TRY(r.duration("time", out.time_limit));
  SOFTPACK_TRY(r.memory_mb("mem", out.memory_mb));
  SOFTPACK_TRY(r.integer("cpus", out.cpus, 1, 4096));
  SOFTPACK_TRY(r.string_list("extra_args", out.extra_args));
  if (const YamlNode* n = node.find("extra_args")) {
    SOFTPACK_TRY(
        r.report(check_extra_args(out.extra_args, *n, source, r.key_path("extra_args"), schema)));
  }
  return r.finish();
}

// A QOS set for a backend that has none would be silently ignored.
Expected<void> check_qos(const YamlNode& scheduler_node, std::string_view source,
                         const SchedulerConfig& s, const BackendEntry& backend) {
  if (backend.takes_qos) {
    return {};
  }
  auto check = [&](const scheduler::Resources& res, const std::string& key) -> Expected<void> {
    if (!res.qos.empty()) {
      const YamlNode* at = &scheduler_node;
      if (const YamlNode* sec =
              scheduler_node.find(key == "scheduler.defaults" ? "defaults" : "stages")) {
        at = sec;
        if (const YamlNode* q = sec->find("qos")) { // the line of the qos key itself
          at = q;
        }
      }
      return bad(*at, source, key + ".qos",
                 std::string(backend.name) +
                     " has no QOS; use partition (the queue), account (the project) or "
                     "extra_args (e.g. [-sla, NAME])");
    }
    return {};
  };
  SOFTPACK_TRY(check(s.defaults, "scheduler.defaults"));
  for (const auto& [stage, res] : s.stages) {
    SOFTPACK_TRY(check(res, "scheduler.stages." + stage));
  }
  return {};
}

std::filesystem::path default_templates_dir() {
  const std::filesystem::path source = std::filesystem::path(SOFTPACK_SOURCE_DIR) / "templates";
  if (std::filesystem::exists(source / "job.sh.mustache")) {
    return source;
  }
  // <prefix>/bin/softpack-builder -> <prefix>/share/softpack-builder/templates
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    buf[n] = '\0';
    return std::filesystem::path(buf).parent_path().parent_path() / "share" / "softpack-builder" /
           "templates";
  }
  return source;
}

} // namespace

bool is_git_url(std::string_view repo) {
  if (repo.find("://") != std::string_view::npos) {
    return true;
  }
  // scp-like: user@host:path
  const auto at = repo.find('@');
  const auto colon = repo.find(':');
  return !repo.starts_with('/') && at != std::string_view::npos &&
         colon != std::string_view::npos && at < colon;
}

Error SectionContext::selection_error(const std::string& message) const {
  const YamlNode& at = selected_at ? *selected_at : document;
  return make_error(ErrorKind::config, selected_by + ": " + message, at.where(source));
}

std::string Config::artifacts_repo() const {
  return artifacts.repo.empty() ? (data_dir / "artifacts.git").string() : artifacts.repo;
}

std::string Config::module_dir() const {
  return module.module_dir.empty() ? (data_dir / "installs" / "modules").string()
                                   : module.module_dir;
}

std::vector<IpNetwork> default_core_clients() {
  std::vector<IpNetwork> out;
  for (const char* text : {"127.0.0.0/8", "::1/128"}) {
    out.push_back(*parse_ip_network(text));
  }
  return out;
}

bool Config::publishes_to(std::string_view destination) const {
  return std::find(publish.destinations.begin(), publish.destinations.end(), destination) !=
         publish.destinations.end();
}

std::string Config::scripts_dir() const {
  return module.scripts_dir.empty() ? (data_dir / "installs" / "scripts").string()
                                    : module.scripts_dir;
}

scheduler::Resources Config::resources_for(const std::string& stage) const {
  auto it = scheduler.stages.find(stage);
  return it == scheduler.stages.end() ? scheduler.defaults : it->second;
}

Config default_config() {
  Config c;
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) {
    c.data_dir = std::filesystem::path(xdg) / "softpack-builder";
  } else {
    c.data_dir = "var";
  }
  // Absolute from here on: paths under it end up in module files and job scripts, which run
  // elsewhere.
  c.data_dir = std::filesystem::absolute(c.data_dir).lexically_normal();
  c.templates_dir = default_templates_dir();
  return c;
}

std::string Config::where(std::string_view key_path) const {
  auto it = locations.find(key_path);
  return it == locations.end() ? std::string() : it->second;
}

const std::any* backend_settings(const Config& config, std::string_view name) {
  auto it = config.backend_settings.find(name);
  return it == config.backend_settings.end() ? nullptr : &it->second;
}

Expected<Config> parse_config(std::string_view text, std::string_view source_name,
                              const Schema& schema) {
  return parse_config(text, source_name, schema, default_config(), std::filesystem::current_path());
}

namespace {

// Where each key of `map` and of the maps under it is set: "server.port" -> "config.yaml:12".
void record_locations(const YamlNode& map, std::string_view source, const std::string& prefix,
                      std::map<std::string, std::string, std::less<>>& out) {
  for (const auto& e : map.entries) {
    const std::string path = prefix.empty() ? e.key : prefix + "." + e.key;
    out[path] = std::string(source) + ":" + std::to_string(e.line);
    if (e.value.is_map()) {
      record_locations(e.value, source, path, out);
    }
  }
}

// The line of an error's "file:12" context; errors without one sort last.
int line_of(const Error& e) {
  const auto colon = e.context.rfind(':');
  int line = 0;
  if (colon != std::string::npos &&
      std::from_chars(e.context.data() + colon + 1, e.context.data() + e.context.size(), line)
              .ptr == e.context.data() + e.context.size()) {
    return line;
  }
  return std::numeric_limits<int>::max();
}

// Reads the document into a Config. Errors after which reading can go on are collected in
// `errors` (the value keeps its default); the others are returned.
Expected<Config> read_config(const YamlNode& doc, std::string_view source_name,
                             const Schema& schema, const Config& defaults,
                             const std::filesystem::path& working_dir, std::vector<Error>& errors) {
  Config c = defaults;
  record_locations(doc, source_name, "", c.locations);
  MapReader top(doc, source_name, "", &errors);
  SOFTPACK_TRY(top.check_is_map());
  std::string data_dir, templates_dir;
  SOFTPACK_TRY(top.string("data_dir", data_dir));
  if (!data_dir.empty()) {
    // What std::filesystem::absolute does, without asking for the current directory.
    c.data_dir = (working_dir / data_dir).lexically_normal();
  }
  SOFTPACK_TRY(top.string("templates_dir", templates_dir));
  if (!templates_dir.empty()) {
    c.templates_dir = templates_dir;
  }

  // Backends' sections are read last, by the backends; these readers stay open until then so
  // that their keys count as known.
  MapReader sched = top.section("scheduler");
  SOFTPACK_TRY(sched.check_is_map());
  SOFTPACK_TRY(sched.string("backend", c.scheduler.backend));
  const BackendEntry* scheduler_backend = nullptr;
  if (c.scheduler.backend.empty()) {
    for (const auto& e : schema.schedulers) {
      if (e.is_default) {
        c.scheduler.backend = std::string(e.name);
        scheduler_backend = &e;
      }
    }
  } else if (!(scheduler_backend = find_entry(schema.schedulers, c.scheduler.backend))) {
    SOFTPACK_TRY(sched.report(
        sched.error("backend", "unknown backend '" + printable(c.scheduler.backend) +
                                   "' (expected " + names_of(schema.schedulers, " or ") + ")")));
  }
  SOFTPACK_TRY(sched.duration("poll_interval", c.scheduler.poll_interval));
  SOFTPACK_TRY(sched.duration("min_poll_interval", c.scheduler.min_poll_interval));
  SOFTPACK_TRY(sched.duration("lost_grace", c.scheduler.lost_grace));
  SOFTPACK_TRY(sched.integer("local_max_running", c.scheduler.local_max_running, 1, 1024));
  if (c.scheduler.poll_interval.count() < 1) {
    SOFTPACK_TRY(sched.report(sched.error("poll_interval", "must be at least 1s")));
  }
  if (const YamlNode* d = sched.get("defaults")) {
    SOFTPACK_TRY(read_resources(*d, source_name, "scheduler.defaults", schema, c.scheduler.defaults,
                                sched.collector()));
  }
  if (const YamlNode* st = sched.get("stages")) {
    if (!st->is_map()) {
      SOFTPACK_TRY(
          sched.report(bad(*st, source_name, "scheduler.stages", "expected a map of stage names")));
    }
    static const std::set<std::string> stage_names{"concretize", "build", "module"};
    for (const auto& e : st->entries) {
      if (!stage_names.count(e.key)) {
        SOFTPACK_TRY(sched.report(make_error(
            ErrorKind::config,
            "unknown stage 'scheduler.stages." + e.key + "' (known: concretize, build, module)",
            std::string(source_name) + ":" + std::to_string(e.line))));
        continue;
      }
      scheduler::Resources res = c.scheduler.defaults;
      SOFTPACK_TRY(read_resources(e.value, source_name, "scheduler.stages." + e.key, schema, res,
                                  sched.collector()));
      c.scheduler.stages[e.key] = res;
    }
  }
  if (scheduler_backend) {
    SOFTPACK_TRY(
        sched.report(check_qos(sched.node(), source_name, c.scheduler, *scheduler_backend)));
  }

  {
    MapReader r = top.section("spack");
    SOFTPACK_TRY(r.check_is_map());
    SOFTPACK_TRY(r.string_list("command", c.spack.command, false));
    SOFTPACK_TRY(r.string("target", c.spack.target));
    SOFTPACK_TRY(r.string("repo", c.spack.repo));
    SOFTPACK_TRY(r.string("cache_dir", c.spack.cache_dir));
    // Settings of earlier versions, refused with what replaces them.
    static constexpr std::string_view k_layout =
        "is no longer a setting: the image recipe puts the install tree at /opt/software "
        "(padded: spack.padded_length) and the view at /opt/views/view (linked from /opt/view) "
        "in every image, and the concretize stage uses a store in the build directory; remove it";
    static constexpr std::string_view k_images =
        "is no longer a setting: softpack-builder writes the image recipe itself "
        "(templates/singularity.def.mustache) rather than running spack containerize; set "
        "spack.build_image (e.g. spack/ubuntu-jammy:0.21.2) and spack.final_image (e.g. "
        "ubuntu:22.04) instead";
    for (const auto& [gone, why] : {std::pair{"install_tree", k_layout},
                                    {"view", k_layout},
                                    {"container_os", k_images},
                                    {"container_spack", k_images}}) {
      if (r.get(gone)) {
        SOFTPACK_TRY(r.report(r.error(gone, std::string(why))));
      }
    }
    if (!c.spack.repo.empty()) {
      // A directory is copied into the image by the recipe's %files (a line of paths); a URL
      // is cloned by a shell command.
      if (c.spack.repo.find_first_of(k_unsafe_in_commands) != std::string::npos) {
        SOFTPACK_TRY(r.report(r.error("repo", "'" + printable(c.spack.repo) +
                                                  "' has characters that cannot appear here")));
      } else if (!is_git_url(c.spack.repo) && !c.spack.repo.starts_with('/')) {
        SOFTPACK_TRY(r.report(r.error("repo", "'" + printable(c.spack.repo) +
                                                  "' is neither an absolute directory nor a git "
                                                  "URL (https://..., ssh://..., user@host:path)")));
      }
    }
    SOFTPACK_TRY(r.string("repo_ref", c.spack.repo_ref));
    SOFTPACK_TRY(r.string("build_image", c.spack.build_image));
    SOFTPACK_TRY(r.string("final_image", c.spack.final_image));
    SOFTPACK_TRY(r.boolean("unsigned", c.spack.unsigned_caches));
    SOFTPACK_TRY(r.integer("padded_length", c.spack.padded_length, 0, 512));
    SOFTPACK_TRY(read_binary_caches(r, c.spack.binary_caches));
    for (const auto& [key, value] : {std::pair{"target", &c.spack.target},
                                     {"repo_ref", &c.spack.repo_ref},
                                     {"build_image", &c.spack.build_image},
                                     {"final_image", &c.spack.final_image}}) {
      const bool image = std::string_view(key).ends_with("_image");
      if (value->find_first_not_of(std::string(k_name_chars) + (image ? "@" : "")) !=
          std::string::npos) {
        SOFTPACK_TRY(r.report(
            r.error(key, "'" + printable(*value) + "' has characters that cannot appear here")));
      }
    }
    for (const auto& [key, value] :
         {std::pair{"build_image", &c.spack.build_image}, {"final_image", &c.spack.final_image}}) {
      if (value->empty()) {
        SOFTPACK_TRY(r.report(r.error(key, "must not be empty")));
      }
    }
    if (!c.spack.repo_ref.empty() && !is_git_url(c.spack.repo)) {
      SOFTPACK_TRY(r.report(r.error("repo_ref", "is for a git URL in spack.repo; '" +
                                                    printable(c.spack.repo) + "' is not one")));
    }
    SOFTPACK_TRY(r.finish());
  }

  {
    MapReader r = top.section("container");
    SOFTPACK_TRY(r.check_is_map());
    SOFTPACK_TRY(r.string_list("build_command", c.container.build_command, false));
    SOFTPACK_TRY(r.string_list("exec_command", c.container.exec_command, false));
    SOFTPACK_TRY(r.finish());
  }

  {
    MapReader r = top.section("module");
    SOFTPACK_TRY(r.check_is_map());
    SOFTPACK_TRY(r.string_list("dependencies", c.module.dependencies));
    SOFTPACK_TRY(r.string("scripts_dir", c.module.scripts_dir));
    SOFTPACK_TRY(r.string("load_prefix", c.module.load_prefix));
    SOFTPACK_TRY(r.string("module_dir", c.module.module_dir));
    for (const auto& [key, value] :
         {std::pair{"scripts_dir", &c.module.scripts_dir}, {"module_dir", &c.module.module_dir}}) {
      if (!value->empty() && (*value)[0] != '/') {
        SOFTPACK_TRY(r.report(
            r.error(key, "'" + printable(*value) +
                             "' must be an absolute path (module files name it on every node)")));
      }
    }
    SOFTPACK_TRY(r.finish());
  }

  {
    MapReader r = top.section("jobs");
    SOFTPACK_TRY(r.check_is_map());
    SOFTPACK_TRY(r.string("path", c.jobs.path));
    SOFTPACK_TRY(r.string_map("environment", c.jobs.environment));
    SOFTPACK_TRY(r.string("builder_command", c.jobs.builder_command));
    for (const auto& [k, v] : c.jobs.environment) {
      if (k.empty() ||
          k.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                              "0123456789_") != std::string::npos ||
          (k[0] >= '0' && k[0] <= '9')) {
        SOFTPACK_TRY(
            r.report(bad(*r.node().find("environment"), source_name, "jobs.environment." + k,
                         "not a valid environment variable name")));
      }
    }
    SOFTPACK_TRY(r.finish());
  }

  {
    MapReader r = top.section("artifacts");
    SOFTPACK_TRY(r.check_is_map());
    SOFTPACK_TRY(r.string("repo", c.artifacts.repo));
    SOFTPACK_TRY(r.string("branch", c.artifacts.branch));
    SOFTPACK_TRY(r.string("author_name", c.artifacts.author_name));
    SOFTPACK_TRY(r.string("author_email", c.artifacts.author_email));
    SOFTPACK_TRY(r.string("credentials_file", c.artifacts.credentials_file));
    SOFTPACK_TRY(r.string("ssh_key_file", c.artifacts.ssh_key_file));
    if (url_has_password(c.artifacts.repo)) {
      SOFTPACK_TRY(r.report(
          r.error("repo", "the URL holds a password; put credentials in artifacts.credentials_file "
                          "(git-credential-store format) instead, so that they never reach logs")));
    }
    if (c.artifacts.branch.empty() || c.artifacts.branch.find("..") != std::string::npos ||
        c.artifacts.branch.find_first_of(" ~^:?*[\\") != std::string::npos ||
        c.artifacts.branch[0] == '-') {
      SOFTPACK_TRY(r.report(r.error("branch", "'" + printable(c.artifacts.branch) +
                                                  "' is not a valid git branch name")));
    }
    SOFTPACK_TRY(r.finish());
  }

  MapReader publish = top.section("publish");
  SOFTPACK_TRY(publish.check_is_map());
  SOFTPACK_TRY(publish.string_list("destinations", c.publish.destinations, false));
  SOFTPACK_TRY(publish.duration("retry_initial", c.publish.retry_initial));
  SOFTPACK_TRY(publish.duration("retry_max", c.publish.retry_max));
  SOFTPACK_TRY(publish.duration("give_up_after", c.publish.give_up_after));
  {
    std::set<std::string> seen;
    for (const auto& d : c.publish.destinations) {
      if (!find_entry(schema.destinations, d)) {
        SOFTPACK_TRY(publish.report(publish.error(
            "destinations", "unknown destination '" + printable(d) +
                                "' (known: " + names_of(schema.destinations, ", ") + ")")));
        continue;
      }
      if (!seen.insert(d).second) {
        SOFTPACK_TRY(publish.report(publish.error("destinations", "'" + d + "' is listed twice")));
      }
    }
    // Published in the table's order, whatever the order written. When none are given, the
    // defaults are chosen once every backend's settings are read (below).
    std::vector<std::string> ordered;
    for (const auto& e : schema.destinations) {
      if (seen.count(std::string(e.name)) > 0) {
        ordered.emplace_back(e.name);
      }
    }
    c.publish.destinations = std::move(ordered);
    for (const auto& e : schema.destinations) {
      if (!e.excludes.empty() && seen.count(std::string(e.name)) > 0 &&
          seen.count(std::string(e.excludes)) > 0) {
        SOFTPACK_TRY(publish.report(publish.error(
            "destinations", "'" + std::string(e.name) + "' and '" + std::string(e.excludes) +
                                "' may not be used together: " + std::string(e.excludes_why))));
      }
    }
  }
  if (c.publish.retry_initial.count() <= 0 || c.publish.retry_max < c.publish.retry_initial) {
    SOFTPACK_TRY(publish.report(bad(publish.node(), source_name, "publish.retry_initial",
                                    "must be more than 0 and at most publish.retry_max")));
  }

  {
    MapReader r = top.section("server");
    SOFTPACK_TRY(r.check_is_map());
    SOFTPACK_TRY(r.string("address", c.server.address));
    SOFTPACK_TRY(r.integer("port", c.server.port, 0, 65535));
    SOFTPACK_TRY(r.string("api_token_file", c.server.api_token_file));
    SOFTPACK_TRY(r.string("gitlab_token_file", c.server.gitlab_token_file));
    if (r.get("core_clients")) {
      std::vector<std::string> networks;
      SOFTPACK_TRY(r.string_list("core_clients", networks, true));
      c.server.core_clients.clear();
      for (const auto& text : networks) {
        auto n = parse_ip_network(text);
        if (!n) {
          SOFTPACK_TRY(r.report(r.error("core_clients", n.error().message)));
          continue;
        }
        c.server.core_clients.push_back(std::move(*n));
      }
    }
    if (const YamlNode* m = r.get("max_body")) {
      auto mb = parse_memory_mb(m->scalar);
      if (!m->is_scalar() || !mb || *mb == 0) {
        SOFTPACK_TRY(
            r.report(bad(*m, source_name, "server.max_body",
                         "expected a size such as 1M, found '" + printable(m->scalar) + "'")));
      } else {
        c.server.max_body_bytes = *mb * 1024 * 1024;
      }
    }
    SOFTPACK_TRY(r.duration("read_timeout", c.server.read_timeout));
    SOFTPACK_TRY(r.duration("write_timeout", c.server.write_timeout));
    SOFTPACK_TRY(r.integer("max_builds_in_flight", c.server.max_builds_in_flight, 1, 100000));
    SOFTPACK_TRY(r.string("socket", c.server.socket));
    if (!c.server.socket.empty() && c.server.socket.front() != '/') {
      SOFTPACK_TRY(r.report(r.error("socket", "expected an absolute path, found '" +
                                                  printable(c.server.socket) + "'")));
    }
    if (const YamlNode* m = r.get("socket_mode")) {
      const std::string& t = m->scalar;
      if (!m->is_scalar() || t.empty() || t.size() > 4 ||
          t.find_first_not_of("01234567") != std::string::npos) {
        SOFTPACK_TRY(r.report(
            bad(*m, source_name, "server.socket_mode",
                "expected an octal mode such as \"0666\" (quoted), found '" + printable(t) + "'")));
      } else {
        c.server.socket_mode = std::stoi(t, nullptr, 8);
      }
    }
    SOFTPACK_TRY(r.boolean("munge", c.server.munge));
    SOFTPACK_TRY(r.string("munge_socket", c.server.munge_socket));
    SOFTPACK_TRY(r.duration("munge_ttl", c.server.munge_ttl));
    if (c.server.munge_ttl.count() < 1 || c.server.munge_ttl.count() > 3600) {
      SOFTPACK_TRY(r.report(r.error("munge_ttl", "must be 1s to 1h (munged's maximum TTL)")));
    }
    SOFTPACK_TRY(r.boolean("core_clients_trust_local", c.server.core_clients_trust_local));
    SOFTPACK_TRY(read_service_tokens(r, c.server.tokens));
    {
      MapReader a = r.section("admins");
      SOFTPACK_TRY(a.check_is_map());
      SOFTPACK_TRY(a.string_list("users", c.server.admin_users, true));
      SOFTPACK_TRY(a.string_list("groups", c.server.admin_groups, true));
      SOFTPACK_TRY(a.finish());
    }
    SOFTPACK_TRY(r.integer("max_builds_per_user", c.server.max_builds_per_user, 0, 100000));
    SOFTPACK_TRY(read_rate_limit(r, c.server.user_rate_limit));
    SOFTPACK_TRY(r.finish());
  }

  // Each backend reads its own section (or, when it has none, nothing), after the general
  // settings it may depend on.
  const Config general = c;
  auto read_backend = [&](const BackendEntry& e, bool selected, MapReader& selector,
                          std::string_view selector_key) -> Expected<void> {
    static const YamlNode k_absent;
    // Backends' sections are top-level keys or keys of the scheduler section.
    const auto dot = e.section.find('.');
    const std::string_view parent = dot == std::string_view::npos ? "" : e.section.substr(0, dot);
    MapReader* at = parent.empty() ? &top : parent == "scheduler" ? &sched : nullptr;
    if (!at) {
      return make_error(ErrorKind::internal, "backend " + std::string(e.name) + ": section '" +
                                                 std::string(e.section) +
                                                 "' is not under the top level or scheduler");
    }
    MapReader section =
        e.section.empty()
            ? MapReader(k_absent, source_name, std::string(e.name), top.collector())
            : at->section(dot == std::string_view::npos ? e.section : e.section.substr(dot + 1));
    SOFTPACK_TRY(section.check_is_map());
    if (!e.read) {
      return {};
    }
    SectionContext context{section, selected, general, doc, {}, nullptr, source_name};
    context.selected_by = selector.key_path(selector_key);
    context.selected_at = selector.node().find(selector_key);
    auto settings = e.read(context);
    if (!settings) {
      // The section's unknown keys are reported too.
      SOFTPACK_TRY(top.report(settings.error()));
    }
    if (!e.section.empty()) {
      SOFTPACK_TRY(section.finish());
    }
    if (settings) {
      c.backend_settings[std::string(e.name)] = std::move(*settings);
    }
    return {};
  };
  for (const auto& e : schema.schedulers) {
    SOFTPACK_TRY(top.report(read_backend(e, e.name == c.scheduler.backend, sched, "backend")));
  }
  for (const auto& e : schema.destinations) {
    SOFTPACK_TRY(
        top.report(read_backend(e, general.publishes_to(e.name), publish, "destinations")));
  }

  if (c.publish.destinations.empty()) {
    // The defaults depend on what is configured (core.url, registry.url, ...); the sections were
    // read as not selected, which only relaxes their `url` requirement, and every default needs
    // that URL set.
    for (const auto& e : schema.destinations) {
      if (e.default_when && e.default_when(c)) {
        c.publish.destinations.emplace_back(e.name);
      }
    }
  }

  SOFTPACK_TRY(sched.finish());
  SOFTPACK_TRY(publish.finish());
  SOFTPACK_TRY(top.finish());
  return c;
}

} // namespace

CheckedConfig check_config(std::string_view text, std::string_view source_name,
                           const Schema& schema, const Config& defaults,
                           const std::filesystem::path& working_dir) {
  CheckedConfig out{defaults, {}, false};
  auto doc = parse_yaml(text, source_name);
  if (!doc) {
    Error e = doc.error();
    e.kind = ErrorKind::config;
    out.errors.push_back(std::move(e));
    return out;
  }
  auto c = read_config(*doc, source_name, schema, defaults, working_dir, out.errors);
  if (c) {
    out.config = std::move(*c);
    out.complete = true;
  } else {
    out.errors.push_back(c.error());
  }
  std::stable_sort(out.errors.begin(), out.errors.end(),
                   [](const Error& a, const Error& b) { return line_of(a) < line_of(b); });
  return out;
}

CheckedConfig check_config(std::string_view text, std::string_view source_name,
                           const Schema& schema) {
  return check_config(text, source_name, schema, default_config(), std::filesystem::current_path());
}

Error combined_error(const std::vector<Error>& errors) {
  if (errors.empty()) {
    return make_error(ErrorKind::internal, "no error to report");
  }
  Error e = errors.front();
  for (std::size_t i = 1; i < errors.size(); ++i) {
    e.message += "\n" + errors[i].describe();
  }
  return e;
}

Expected<Config> parse_config(std::string_view text, std::string_view source_name,
                              const Schema& schema, const Config& defaults,
                              const std::filesystem::path& working_dir) {
  auto checked = check_config(text, source_name, schema, defaults, working_dir);
  if (!checked.errors.empty()) {
    return combined_error(checked.errors);
  }
  return std::move(checked.config);
}

Expected<Config> load_config(const std::filesystem::path& path, const Schema& schema) {
  auto text = read_file(path, 1 << 20);
  if (!text) {
    Error e = text.error();
    e.kind = ErrorKind::config;
    return e;
  }
  return parse_config(*text, path.string(), schema);
}

} // namespace softpack::config
