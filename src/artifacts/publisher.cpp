#include "artifacts/publisher.hpp"

namespace softpack::artifacts {

const std::vector<std::string>& artifact_files(bool success) {
  static const std::vector<std::string> all{".built_by_softpack", "softpack.yml", "spack.lock",
                                            "singularity.def",    "builder.out",  "module",
                                            "README.md"};
  static const std::vector<std::string> failed{"builder.out"};
  return success ? all : failed;
}

std::string environment_dir(const spec::EnvironmentSpec& spec) {
  return "environments/" + spec.path + "/" + spec.name + "-" + spec.version;
}

} // namespace softpack::artifacts
