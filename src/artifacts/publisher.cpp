#include "artifacts/publisher.hpp"

#include "util/text.hpp"

#include <boost/url/parse.hpp>

namespace softpack::artifacts {

const std::vector<std::string>& artifact_files(bool success) {
  // `module` before `builder.out`: softpack-core reads the files in this order, marks the
  // environment failed (failure_reason "build") at builder.out and ready at module, where it
  // stops reading. A successful build's builder.out must not come first.
  static const std::vector<std::string> all{".built_by_softpack", "softpack.yml", "spack.lock",
                                            "singularity.def",    "module",       "builder.out",
                                            "README.md"};
  static const std::vector<std::string> failed{"builder.out"};
  return success ? all : failed;
}

std::string environment_dir(const spec::EnvironmentSpec& spec) {
  return "environments/" + spec.path + "/" + spec.name + "-" + spec.version;
}

Expected<void> check_http_url(std::string_view url) {
  auto u = boost::urls::parse_uri(url);
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
  if (problem.empty()) {
    return {};
  }
  // Never echo a URL that carries credentials.
  const bool secret = u && u->has_userinfo();
  return make_error(ErrorKind::config,
                    (secret ? "the URL" : "'" + printable(url) + "'") + " " + problem);
}

} // namespace softpack::artifacts
