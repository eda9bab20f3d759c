#include "config/config.hpp"

#include "util/fs.hpp"
#include "util/text.hpp"
#include "util/yaml.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <set>
#include <tuple>
#include <unistd.h>

#include <boost/url/parse.hpp>

namespace softpack::config {

namespace {

Error bad(const YamlNode& node, std::string_view source, std::string_view key,
          const std::string& message) {
  return make_error(ErrorKind::config, std::string(key) + ": " + message, node.where(source));
}

// Walks one YAML map, handing out values by key and rejecting keys nobody asked for.
// The publish destinations, in the order they are published.
constexpr const char* k_destinations[] = {"install", "registry", "git", "core"};

// "https://user:secret@host/x" (a password in the URL, which would end up in logs).
bool url_has_password(std::string_view url) {
  auto u = boost::urls::parse_uri(url);
  return u && u->has_password();
}

// An http(s) URL with a host, and no credentials, query or fragment.
Expected<void> check_http_url(const YamlNode& node, std::string_view source, std::string_view key,
                              const std::string& value) {
  auto u = boost::urls::parse_uri(value);
  std::string problem;
  if (!u) {
    problem = "is not a URL";
  } else if (u->scheme() != "http" && u->scheme() != "https") {
    problem = "must start with http:// or https://";
  } else if (u->host().empty()) {
    problem = "has no host";
  } else if (u->has_userinfo()) {
    problem = "holds credentials; put them in the credentials file instead";
  } else if (u->has_query() || u->has_fragment()) {
    problem = "must not have a query or fragment";
  }
  if (!problem.empty()) {
    // Never echo a URL that carries credentials.
    const bool secret = u && u->has_userinfo();
    return bad(node, source, key,
               (secret ? "the URL" : "'" + printable(value) + "'") + " " + problem);
  }
  return {};
}

class MapReader {
public:
  MapReader(const YamlNode& node, std::string_view source, std::string prefix)
      : m_node(node), m_source(source), m_prefix(std::move(prefix)) {}

  Expected<void> check_is_map() const {
    if (!m_node.is_map() && !m_node.is_null()) {
      return bad(m_node, m_source, m_prefix.empty() ? "(top level)" : m_prefix,
                 "expected a map, found a " + std::string(m_node.kind_name()));
    }
    return {};
  }

  std::string key_path(std::string_view key) const {
    return m_prefix.empty() ? std::string(key) : m_prefix + "." + std::string(key);
  }

  const YamlNode* get(std::string_view key) {
    m_seen.insert(std::string(key));
    const YamlNode* n = m_node.find(key);
    return (n && !n->is_null()) ? n : nullptr;
  }

  Expected<void> string(std::string_view key, std::string& out) {
    if (const YamlNode* n = get(key)) {
      if (!n->is_scalar()) {
        return bad(*n, m_source, key_path(key), "expected a string");
      }
      out = n->scalar;
    }
    return {};
  }

  Expected<void> string_list(std::string_view key, std::vector<std::string>& out,
                             bool allow_empty = true) {
    if (const YamlNode* n = get(key)) {
      if (n->is_scalar()) { // a single word is accepted as a one-element list
        out = {n->scalar};
        return {};
      }
      if (!n->is_sequence()) {
        return bad(*n, m_source, key_path(key), "expected a list of strings");
      }
      std::vector<std::string> values;
      for (const auto& item : n->items) {
        if (!item.is_scalar()) {
          return bad(item, m_source, key_path(key), "expected a list of strings");
        }
        values.push_back(item.scalar);
      }
      if (values.empty() && !allow_empty) {
        return bad(*n, m_source, key_path(key), "must not be empty");
      }
      out = std::move(values);
    }
    return {};
  }

  Expected<void> string_map(std::string_view key, std::map<std::string, std::string>& out) {
    if (const YamlNode* n = get(key)) {
      if (!n->is_map()) {
        return bad(*n, m_source, key_path(key), "expected a map of strings");
      }
      for (const auto& e : n->entries) {
        if (!e.value.is_scalar()) {
          return bad(e.value, m_source, key_path(key) + "." + e.key, "expected a string");
        }
        out[e.key] = e.value.scalar;
      }
    }
    return {};
  }

  Expected<void> boolean(std::string_view key, bool& out) {
    if (const YamlNode* n = get(key)) {
      if (n->is_scalar() && (n->scalar == "true" || n->scalar == "false")) {
        out = n->scalar == "true";
      } else {
        return bad(*n, m_source, key_path(key),
                   "expected true or false, found '" + printable(n->scalar) + "'");
      }
    }
    return {};
  }

  Expected<void> integer(std::string_view key, int& out, int min, int max) {
    if (const YamlNode* n = get(key)) {
      int value = 0;
      const auto& s = n->scalar;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
      if (!n->is_scalar() || ec != std::errc() || p != s.data() + s.size() || value < min ||
          value > max) {
        return bad(*n, m_source, key_path(key),
                   "expected a whole number from " + std::to_string(min) + " to " +
                       std::to_string(max) + ", found '" + printable(s) + "'");
      }
      out = value;
    }
    return {};
  }

  template <typename Duration> Expected<void> duration(std::string_view key, Duration& out) {
    if (const YamlNode* n = get(key)) {
      auto d = n->is_scalar()
                   ? parse_duration(n->scalar)
                   : Expected<std::chrono::milliseconds>(make_error(ErrorKind::config, ""));
      if (!d) {
        return bad(*n, m_source, key_path(key),
                   "expected a duration such as 30s, 5m, 2h or 1:00:00, found '" +
                       printable(n->scalar) + "'");
      }
      out = std::chrono::duration_cast<Duration>(*d);
    }
    return {};
  }

  // Map-valued keys get their own reader.
  const YamlNode* child(std::string_view key) { return get(key); }

  Expected<void> finish() const {
    for (const auto& e : m_node.entries) {
      if (!m_seen.count(e.key)) {
        std::string known;
        for (const auto& k : m_seen) {
          known += (known.empty() ? "" : ", ") + k;
        }
        return make_error(ErrorKind::config,
                          "unknown key '" + key_path(e.key) + "' (known here: " + known + ")",
                          std::string(m_source) + ":" + std::to_string(e.line));
      }
    }
    return {};
  }

private:
  const YamlNode& m_node;
  std::string_view m_source;
  std::string m_prefix;
  std::set<std::string> m_seen;
};

#define SP_TRY(expr)                                                                               \
  do {                                                                                             \
    if (auto sp_r = (expr); !sp_r) {                                                               \
      return sp_r.error();                                                                         \
    }                                                                                              \
  } while (0)

// Options the adapters set themselves; extra_args may not override them.
constexpr std::string_view k_managed_options[] = {"-J",
                                                  "--job-name",
                                                  "-o",
                                                  "--output",
                                                  "-e",
                                                  "--error",
                                                  "-d",
                                                  "--dependency",
                                                  "--export",
                                                  "--comment",
                                                  "--kill-on-invalid-dep",
                                                  "--requeue",
                                                  "--no-requeue",
                                                  "-p",
                                                  "--partition",
                                                  "-A",
                                                  "--account",
                                                  "-q",
                                                  "--qos",
                                                  "-t",
                                                  "--time",
                                                  "--mem",
                                                  "-c",
                                                  "--cpus-per-task",
                                                  "-D",
                                                  "--chdir",
                                                  "--parsable",
                                                  "--wrap",
                                                  "-w",
                                                  "-g",
                                                  "-env",
                                                  "-P",
                                                  "-n",
                                                  "-W",
                                                  "-M",
                                                  "-R",
                                                  "-ti",
                                                  "-Jd",
                                                  "-cwd",
                                                  "-oo",
                                                  "-eo"};

Expected<void> check_extra_args(const std::vector<std::string>& args, const YamlNode& node,
                                std::string_view source, const std::string& key) {
  for (const auto& arg : args) {
    const std::string opt = arg.substr(0, arg.find('='));
    for (auto managed : k_managed_options) {
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
                              const std::string& prefix, scheduler::Resources& out) {
  MapReader r(node, source, prefix);
  SP_TRY(r.check_is_map());
  SP_TRY(r.string("partition", out.partition));
  SP_TRY(r.string("account", out.account));
  SP_TRY(r.string("qos", out.qos));
  SP_TRY(r.duration("time", out.time_limit));
  if (const YamlNode* n = r.get("mem")) {
    auto mb = parse_memory_mb(n->scalar);
    if (!n->is_scalar() || !mb) {
      return bad(*n, source, r.key_path("mem"),
                 "expected a memory size such as 512M or 4G, found '" + printable(n->scalar) + "'");
    }
    out.memory_mb = *mb;
  }
  SP_TRY(r.integer("cpus", out.cpus, 1, 4096));
  SP_TRY(r.string_list("extra_args", out.extra_args));
  if (const YamlNode* n = node.find("extra_args")) {
    SP_TRY(check_extra_args(out.extra_args, *n, source, r.key_path("extra_args")));
  }
  return r.finish();
}

Expected<void> read_lsf(const YamlNode& node, std::string_view source, LsfConfig& out) {
  MapReader r(node, source, "scheduler.lsf");
  SP_TRY(r.check_is_map());
  SP_TRY(r.duration("command_timeout", out.command_timeout));
  SP_TRY(r.integer("retries", out.retries, 0, 100));
  SP_TRY(r.string("unit_for_limits", out.unit_for_limits));
  SP_TRY(r.string("json", out.json));
  SP_TRY(r.string("job_group_root", out.job_group_root));
  static const std::set<std::string> units{"KB", "MB", "GB", "TB", "PB", "EB", "ZB"};
  if (!units.count(out.unit_for_limits)) {
    return bad(*node.find("unit_for_limits"), source, "scheduler.lsf.unit_for_limits",
               "'" + printable(out.unit_for_limits) +
                   "' is not an LSF unit (expected KB, MB, GB, TB, PB, EB or ZB, as "
                   "LSF_UNIT_FOR_LIMITS in lsf.conf)");
  }
  if (out.json != "auto" && out.json != "true" && out.json != "false") {
    return bad(*node.find("json"), source, "scheduler.lsf.json",
               "expected auto, true or false, found '" + printable(out.json) + "'");
  }
  // A job group name: absolute, slash-separated words of letters, digits and ._-.
  const std::string& g = out.job_group_root;
  bool ok = !g.empty() && g[0] == '/' && g.find("//") == std::string::npos &&
            g.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789_.-/") == std::string::npos;
  if (!ok) {
    return bad(*node.find("job_group_root"), source, "scheduler.lsf.job_group_root",
               "'" + printable(g) +
                   "' is not a job group path (expected /name[/name...] of letters, digits, "
                   "'.', '_' and '-')");
  }
  if (g.size() > 1 && g.back() == '/') {
    out.job_group_root.pop_back();
  }
  if (const YamlNode* ct = node.find("command_timeout"); ct && out.command_timeout.count() < 1) {
    return bad(*ct, source, "scheduler.lsf.command_timeout", "must be at least 1s");
  }
  return r.finish();
}

// LSF has no QOS: a qos set for the LSF backend would be silently ignored.
Expected<void> check_lsf_resources(const YamlNode& scheduler_node, std::string_view source,
                                   const SchedulerConfig& s) {
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
                 "LSF has no QOS; use partition (the queue), account (the project) or "
                 "extra_args (e.g. [-sla, NAME])");
    }
    return {};
  };
  SP_TRY(check(s.defaults, "scheduler.defaults"));
  for (const auto& [stage, res] : s.stages) {
    SP_TRY(check(res, "scheduler.stages." + stage));
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

std::string Config::artifacts_repo() const {
  return artifacts.repo.empty() ? (data_dir / "artifacts.git").string() : artifacts.repo;
}

std::string Config::module_dir() const {
  return module.module_dir.empty() ? (data_dir / "installs" / "modules").string()
                                   : module.module_dir;
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

namespace {
// Longer durations are refused: far beyond any sensible setting, and a chrono conversion of the
// next orders of magnitude to nanoseconds overflows.
constexpr long long k_max_duration_ms = 100LL * 366 * 86400 * 1000;
} // namespace

Expected<std::chrono::milliseconds> parse_duration(std::string_view text) {
  const std::string_view s = trim(text);
  auto number = [](std::string_view digits) -> std::optional<long long> {
    long long v = 0;
    if (digits.empty()) {
      return std::nullopt;
    }
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc() || p != digits.data() + digits.size() || v < 0) {
      return std::nullopt;
    }
    return v;
  };
  const auto fail = make_error(ErrorKind::config, "not a duration: '" + printable(s) + "'");
  const auto too_long =
      make_error(ErrorKind::config, "duration '" + printable(s) + "' is longer than 100 years");
  if (s.empty()) {
    return fail;
  }
  if (s.find(':') != std::string_view::npos || s.find('-') != std::string_view::npos) {
    // Slurm: "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS".
    long long days = 0;
    std::string_view rest = s;
    if (auto dash = s.find('-'); dash != std::string_view::npos) {
      auto d = number(s.substr(0, dash));
      if (!d) {
        return fail;
      }
      days = *d;
      rest = s.substr(dash + 1);
    }
    auto parts = split(rest, ':');
    std::vector<long long> v;
    for (const auto& p : parts) {
      auto n = number(p);
      if (!n) {
        return fail;
      }
      v.push_back(*n);
    }
    // Each part is at most 19 digits, so bound them before multiplying.
    if (days > k_max_duration_ms / 86400000 ||
        std::any_of(v.begin(), v.end(), [](long long n) { return n > k_max_duration_ms / 1000; })) {
      return too_long;
    }
    long long secs = 0;
    if (s.find('-') != std::string_view::npos) {
      // D-HH[:MM[:SS]]
      if (v.empty() || v.size() > 3) {
        return fail;
      }
      if (v[0] > k_max_duration_ms / 3600000) {
        return too_long;
      }
      secs = v[0] * 3600 + (v.size() > 1 ? v[1] * 60 : 0) + (v.size() > 2 ? v[2] : 0);
    } else if (v.size() == 2) {
      secs = v[0] * 60 + v[1];
    } else if (v.size() == 3) {
      if (v[0] > k_max_duration_ms / 3600000) {
        return too_long;
      }
      secs = v[0] * 3600 + v[1] * 60 + v[2];
    } else {
      return fail;
    }
    const long long ms = (days * 86400 + secs) * 1000;
    if (ms > k_max_duration_ms) {
      return too_long;
    }
    return std::chrono::milliseconds(ms);
  }
  // A number and a unit; a plain number is seconds.
  const auto unit_at = s.find_first_not_of("0123456789");
  const std::string_view digits = s.substr(0, unit_at);
  const std::string_view unit = unit_at == std::string_view::npos ? "s" : s.substr(unit_at);
  static constexpr std::pair<std::string_view, long long> k_units[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
  auto n = number(digits);
  if (!n) {
    return fail;
  }
  for (const auto& [name, ms] : k_units) {
    if (unit == name) {
      if (*n > k_max_duration_ms / ms) {
        return too_long;
      }
      return std::chrono::milliseconds(*n * ms);
    }
  }
  return fail;
}

Expected<std::uint64_t> parse_memory_mb(std::string_view text) {
  std::string_view s = trim(text);
  const auto fail = make_error(ErrorKind::config, "not a memory size: '" + printable(s) + "'");
  if (s.empty()) {
    return fail;
  }
  std::uint64_t kib_per_unit = 1024; // plain numbers are megabytes, as in Slurm
  const char unit = static_cast<char>(s.back() | 0x20);
  if (unit >= 'a' && unit <= 'z') {
    s.remove_suffix(1);
    switch (unit) {
    case 'k':
      kib_per_unit = 1;
      break;
    case 'm':
      kib_per_unit = 1024;
      break;
    case 'g':
      kib_per_unit = 1024 * 1024;
      break;
    case 't':
      kib_per_unit = 1024ull * 1024 * 1024;
      break;
    default:
      return fail;
    }
  }
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > (1ull << 40)) {
    return fail;
  }
  // 2^40 terabytes would wrap around to a small number.
  if (v > (1ull << 50) / kib_per_unit) {
    return make_error(ErrorKind::config,
                      "memory size '" + printable(trim(text)) + "' is over the limit of 1 EiB");
  }
  return (v * kib_per_unit + 1023) / 1024;
}

Expected<Config> parse_config(std::string_view text, std::string_view source_name) {
  return parse_config(text, source_name, default_config(), std::filesystem::current_path());
}

Expected<Config> parse_config(std::string_view text, std::string_view source_name,
                              const Config& defaults, const std::filesystem::path& working_dir) {
  auto doc = parse_yaml(text, source_name);
  if (!doc) {
    Error e = doc.error();
    e.kind = ErrorKind::config;
    return e;
  }
  Config c = defaults;
  MapReader top(*doc, source_name, "");
  SP_TRY(top.check_is_map());
  std::string data_dir, templates_dir;
  SP_TRY(top.string("data_dir", data_dir));
  if (!data_dir.empty()) {
    // What std::filesystem::absolute does, without asking for the current directory.
    c.data_dir = (working_dir / data_dir).lexically_normal();
  }
  SP_TRY(top.string("templates_dir", templates_dir));
  if (!templates_dir.empty()) {
    c.templates_dir = templates_dir;
  }

  if (const YamlNode* n = top.child("scheduler")) {
    MapReader r(*n, source_name, "scheduler");
    SP_TRY(r.check_is_map());
    SP_TRY(r.string("backend", c.scheduler.backend));
    static const std::set<std::string> backends{"local", "slurm", "lsf"};
    if (!backends.count(c.scheduler.backend)) {
      return bad(*n->find("backend"), source_name, "scheduler.backend",
                 "unknown backend '" + printable(c.scheduler.backend) +
                     "' (expected local, slurm or lsf)");
    }
    SP_TRY(r.duration("poll_interval", c.scheduler.poll_interval));
    SP_TRY(r.duration("min_poll_interval", c.scheduler.min_poll_interval));
    SP_TRY(r.duration("lost_grace", c.scheduler.lost_grace));
    SP_TRY(r.integer("local_max_running", c.scheduler.local_max_running, 1, 1024));
    if (c.scheduler.poll_interval.count() < 1) {
      return bad(*n->find("poll_interval"), source_name, "scheduler.poll_interval",
                 "must be at least 1s");
    }
    if (const YamlNode* sl = r.child("slurm")) {
      MapReader sr(*sl, source_name, "scheduler.slurm");
      SP_TRY(sr.check_is_map());
      SP_TRY(sr.boolean("requeue", c.scheduler.slurm.requeue));
      SP_TRY(sr.duration("timeout_signal", c.scheduler.slurm.timeout_signal));
      SP_TRY(sr.duration("command_timeout", c.scheduler.slurm.command_timeout));
      SP_TRY(sr.integer("retries", c.scheduler.slurm.retries, 0, 100));
      SP_TRY(sr.finish());
    }
    if (const YamlNode* ls = r.child("lsf")) {
      SP_TRY(read_lsf(*ls, source_name, c.scheduler.lsf));
    }
    if (const YamlNode* d = r.child("defaults")) {
      SP_TRY(read_resources(*d, source_name, "scheduler.defaults", c.scheduler.defaults));
    }
    if (const YamlNode* st = r.child("stages")) {
      if (!st->is_map()) {
        return bad(*st, source_name, "scheduler.stages", "expected a map of stage names");
      }
      static const std::set<std::string> stage_names{"concretize", "build", "module"};
      for (const auto& e : st->entries) {
        if (!stage_names.count(e.key)) {
          return make_error(ErrorKind::config,
                            "unknown stage 'scheduler.stages." + e.key +
                                "' (known: concretize, build, module)",
                            std::string(source_name) + ":" + std::to_string(e.line));
        }
        scheduler::Resources res = c.scheduler.defaults;
        SP_TRY(read_resources(e.value, source_name, "scheduler.stages." + e.key, res));
        c.scheduler.stages[e.key] = res;
      }
    }
    SP_TRY(r.finish());
    if (c.scheduler.backend == "lsf") {
      SP_TRY(check_lsf_resources(*n, source_name, c.scheduler));
    }
  }

  if (const YamlNode* n = top.child("spack")) {
    MapReader r(*n, source_name, "spack");
    SP_TRY(r.check_is_map());
    SP_TRY(r.string_list("command", c.spack.command, false));
    SP_TRY(r.string("target", c.spack.target));
    SP_TRY(r.string("repo", c.spack.repo));
    SP_TRY(r.string("install_tree", c.spack.install_tree));
    SP_TRY(r.string("view", c.spack.view));
    SP_TRY(r.string("container_os", c.spack.container_os));
    SP_TRY(r.string("container_spack", c.spack.container_spack));
    for (const auto* key : {"target", "container_os", "container_spack"}) {
      const YamlNode* v = n->find(key);
      const std::string& value = v ? v->scalar : std::string();
      if (value.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789_.:/-") != std::string::npos) {
        return bad(*v, source_name, std::string("spack.") + key,
                   "'" + printable(value) + "' has characters that cannot appear here");
      }
    }
    SP_TRY(r.finish());
  }

  if (const YamlNode* n = top.child("container")) {
    MapReader r(*n, source_name, "container");
    SP_TRY(r.check_is_map());
    SP_TRY(r.string_list("build_command", c.container.build_command, false));
    SP_TRY(r.string_list("exec_command", c.container.exec_command, false));
    SP_TRY(r.finish());
  }

  if (const YamlNode* n = top.child("module")) {
    MapReader r(*n, source_name, "module");
    SP_TRY(r.check_is_map());
    SP_TRY(r.string_list("dependencies", c.module.dependencies));
    SP_TRY(r.string("scripts_dir", c.module.scripts_dir));
    SP_TRY(r.string("load_prefix", c.module.load_prefix));
    SP_TRY(r.string("module_dir", c.module.module_dir));
    for (const auto& [key, value] :
         {std::pair{"scripts_dir", &c.module.scripts_dir}, {"module_dir", &c.module.module_dir}}) {
      if (!value->empty() && (*value)[0] != '/') {
        return bad(*n->find(key), source_name, std::string("module.") + key,
                   "'" + printable(*value) +
                       "' must be an absolute path (module files name it on every node)");
      }
    }
    SP_TRY(r.finish());
  }

  if (const YamlNode* n = top.child("jobs")) {
    MapReader r(*n, source_name, "jobs");
    SP_TRY(r.check_is_map());
    SP_TRY(r.string("path", c.jobs.path));
    SP_TRY(r.string_map("environment", c.jobs.environment));
    SP_TRY(r.string("builder_command", c.jobs.builder_command));
    for (const auto& [k, v] : c.jobs.environment) {
      if (k.empty() ||
          k.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                              "0123456789_") != std::string::npos ||
          (k[0] >= '0' && k[0] <= '9')) {
        return bad(*n->find("environment"), source_name, "jobs.environment." + k,
                   "not a valid environment variable name");
      }
    }
    SP_TRY(r.finish());
  }

  if (const YamlNode* n = top.child("artifacts")) {
    MapReader r(*n, source_name, "artifacts");
    SP_TRY(r.check_is_map());
    SP_TRY(r.string("repo", c.artifacts.repo));
    SP_TRY(r.string("branch", c.artifacts.branch));
    SP_TRY(r.string("author_name", c.artifacts.author_name));
    SP_TRY(r.string("author_email", c.artifacts.author_email));
    SP_TRY(r.string("credentials_file", c.artifacts.credentials_file));
    SP_TRY(r.string("ssh_key_file", c.artifacts.ssh_key_file));
    if (url_has_password(c.artifacts.repo)) {
      return bad(*n->find("repo"), source_name, "artifacts.repo",
                 "the URL holds a password; put credentials in artifacts.credentials_file "
                 "(git-credential-store format) instead, so that they never reach logs");
    }
    if (c.artifacts.branch.empty() || c.artifacts.branch.find("..") != std::string::npos ||
        c.artifacts.branch.find_first_of(" ~^:?*[\\") != std::string::npos ||
        c.artifacts.branch[0] == '-') {
      return bad(*n->find("branch"), source_name, "artifacts.branch",
                 "'" + printable(c.artifacts.branch) + "' is not a valid git branch name");
    }
    SP_TRY(r.finish());
  }

  if (const YamlNode* n = top.child("registry")) {
    MapReader r(*n, source_name, "registry");
    SP_TRY(r.check_is_map());
    SP_TRY(r.string("url", c.registry.url));
    SP_TRY(r.string("credentials_file", c.registry.credentials_file));
    SP_TRY(r.string("ca_file", c.registry.ca_file));
    SP_TRY(r.duration("timeout", c.registry.timeout));
    if (!c.registry.url.empty()) {
      SP_TRY(check_http_url(*n->find("url"), source_name, "registry.url", c.registry.url));
    }
    SP_TRY(r.finish());
  }

  if (const YamlNode* n = top.child("core")) {
    MapReader r(*n, source_name, "core");
    SP_TRY(r.check_is_map());
    SP_TRY(r.string("url", c.core.url));
    SP_TRY(r.duration("timeout", c.core.timeout));
    if (!c.core.url.empty()) {
      SP_TRY(check_http_url(*n->find("url"), source_name, "core.url", c.core.url));
    }
    SP_TRY(r.finish());
  }

  if (const YamlNode* n = top.child("publish")) {
    MapReader r(*n, source_name, "publish");
    SP_TRY(r.check_is_map());
    SP_TRY(r.string_list("destinations", c.publish.destinations, false));
    SP_TRY(r.duration("retry_initial", c.publish.retry_initial));
    SP_TRY(r.duration("retry_max", c.publish.retry_max));
    SP_TRY(r.duration("give_up_after", c.publish.give_up_after));
    std::set<std::string> seen;
    for (const auto& d : c.publish.destinations) {
      if (std::find(std::begin(k_destinations), std::end(k_destinations), d) ==
          std::end(k_destinations)) {
        return bad(*n->find("destinations"), source_name, "publish.destinations",
                   "unknown destination '" + printable(d) +
                       "' (known: install, registry, git, core)");
      }
      if (!seen.insert(d).second) {
        return bad(*n->find("destinations"), source_name, "publish.destinations",
                   "'" + d + "' is listed twice");
      }
    }
    // Published in the fixed order, whatever the order written.
    std::vector<std::string> ordered;
    for (const char* d : k_destinations) {
      if (seen.count(d)) {
        ordered.emplace_back(d);
      }
    }
    c.publish.destinations = std::move(ordered);
    if (c.publish.retry_initial.count() <= 0 || c.publish.retry_max < c.publish.retry_initial) {
      return bad(*n, source_name, "publish.retry_initial",
                 "must be more than 0 and at most publish.retry_max");
    }
    for (const auto& [d, url, key] : {std::tuple{"registry", &c.registry.url, "registry.url"},
                                      std::tuple{"core", &c.core.url, "core.url"}}) {
      if (seen.count(d) && url->empty()) {
        return bad(*n->find("destinations"), source_name, "publish.destinations",
                   std::string("'") + d + "' needs " + key);
      }
    }
    SP_TRY(r.finish());
  }

  if (const YamlNode* n = top.child("server")) {
    MapReader r(*n, source_name, "server");
    SP_TRY(r.check_is_map());
    SP_TRY(r.string("address", c.server.address));
    SP_TRY(r.integer("port", c.server.port, 0, 65535));
    SP_TRY(r.string("api_token_file", c.server.api_token_file));
    SP_TRY(r.string("gitlab_token_file", c.server.gitlab_token_file));
    if (const YamlNode* m = r.get("max_body")) {
      auto mb = parse_memory_mb(m->scalar);
      if (!m->is_scalar() || !mb || *mb == 0) {
        return bad(*m, source_name, "server.max_body",
                   "expected a size such as 1M, found '" + printable(m->scalar) + "'");
      }
      c.server.max_body_bytes = *mb * 1024 * 1024;
    }
    SP_TRY(r.duration("read_timeout", c.server.read_timeout));
    SP_TRY(r.duration("write_timeout", c.server.write_timeout));
    SP_TRY(r.integer("max_builds_in_flight", c.server.max_builds_in_flight, 1, 100000));
    SP_TRY(r.finish());
  }

  SP_TRY(top.finish());
  return c;
}

Expected<std::string> read_secret(const char* env_var, const std::string& file) {
  if (const char* v = std::getenv(env_var); v && *v) {
    return std::string(v);
  }
  if (file.empty()) {
    return std::string();
  }
  auto text = read_file(file, 64 * 1024);
  if (!text) {
    Error e = text.error();
    e.kind = ErrorKind::config;
    return e;
  }
  std::string secret(trim(text->substr(0, text->find('\n'))));
  if (secret.empty()) {
    return make_error(ErrorKind::config, "the secret file is empty", file);
  }
  return secret;
}

Expected<Config> load_config(const std::filesystem::path& path) {
  auto text = read_file(path, 1 << 20);
  if (!text) {
    Error e = text.error();
    e.kind = ErrorKind::config;
    return e;
  }
  return parse_config(*text, path.string());
}

} // namespace softpack::config
