#include "artifacts/spack_lock.hpp"

#include <algorithm>

#include <boost/json.hpp>

namespace softpack::artifacts {

namespace json = boost::json;

namespace {
Error lock_error(const std::string& where, const std::string& message) {
  return make_error(ErrorKind::invalid_input, message, "spack.lock: " + where);
}
} // namespace

Expected<std::vector<spec::Package>> parse_lock_roots(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 64;
  json::value doc = json::parse(text, ec, {}, opts);
  if (ec) {
    return lock_error("(document)", "not valid JSON: " + ec.message());
  }
  const auto* top = doc.if_object();
  if (!top) {
    return lock_error("(document)", "expected a JSON object");
  }
  const auto* meta = top->if_contains("_meta");
  if (!meta || !meta->is_object() || !meta->as_object().if_contains("lockfile-version")) {
    return lock_error("_meta", "missing _meta.lockfile-version: not a Spack lockfile");
  }
  const auto* roots = top->if_contains("roots");
  const auto* specs = top->if_contains("concrete_specs");
  if (!roots || !roots->is_array()) {
    return lock_error("roots", "expected an array");
  }
  if (!specs || !specs->is_object()) {
    return lock_error("concrete_specs", "expected an object");
  }
  std::vector<spec::Package> out;
  std::size_t i = 0;
  for (const auto& root : roots->as_array()) {
    const std::string where = "roots[" + std::to_string(i++) + "]";
    const auto* hash = root.is_object() ? root.as_object().if_contains("hash") : nullptr;
    if (!hash || !hash->is_string()) {
      return lock_error(where + ".hash", "expected a string");
    }
    const auto* concrete = specs->as_object().if_contains(hash->as_string());
    if (!concrete || !concrete->is_object()) {
      return lock_error(where + ".hash", "no concrete spec " + std::string(hash->as_string()));
    }
    const auto* name = concrete->as_object().if_contains("name");
    const auto* version = concrete->as_object().if_contains("version");
    if (!name || !name->is_string() || !version || !version->is_string()) {
      return lock_error("concrete_specs." + std::string(hash->as_string()),
                        "expected string name and version");
    }
    spec::Package pkg{std::string(name->as_string()), std::string(version->as_string())};
    if (auto v = spec::validate_package_name(pkg.name, where + ".name"); !v) {
      return v.error();
    }
    if (auto v = spec::validate_package_version(pkg.version, where + ".version"); !v) {
      return v.error();
    }
    out.push_back(std::move(pkg));
  }
  return out;
}

std::vector<spec::Package> in_requested_order(std::vector<spec::Package> roots,
                                              const std::vector<spec::Package>& requested) {
  auto rank = [&](const spec::Package& p) {
    const auto it = std::find_if(requested.begin(), requested.end(),
                                 [&](const spec::Package& r) { return r.name == p.name; });
    return static_cast<std::size_t>(it - requested.begin());
  };
  std::stable_sort(roots.begin(), roots.end(),
                   [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
  return roots;
}

} // namespace softpack::artifacts
