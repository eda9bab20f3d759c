#include "support/copy_destination/copy_publisher.hpp"

#include "util/fs.hpp"

namespace softpack::testing {

Expected<CopyOptions> read_copy_options(MapReader& section) {
  CopyOptions o;
  std::string dir;
  SOFTPACK_TRY(section.string("dir", dir));
  SOFTPACK_TRY(section.boolean("failures", o.failures));
  if (!dir.empty() && dir.front() != '/') {
    return section.error("dir", "'" + dir + "' must be an absolute path");
  }
  o.dir = dir;
  return o;
}

Expected<void> CopyPublisher::accepts(const spec::EnvironmentSpec& spec) const {
  if (spec.name == "refused") {
    return make_error(ErrorKind::invalid_input, "the copy destination refuses this name", "name");
  }
  return {};
}

Expected<artifacts::PublishResult>
CopyPublisher::publish(const artifacts::PublishRequest& request) {
  const auto target = m_options.dir / artifacts::environment_dir(request.spec);
  for (const auto& file : artifacts::artifact_files(request.success)) {
    auto text = read_file(request.out_dir / file);
    if (!text) {
      return text.error();
    }
    if (auto w = write_file_atomic(target / file, *text); !w) {
      return w.error();
    }
  }
  return artifacts::PublishResult{"copy " + m_options.dir.string(), target.string()};
}

} // namespace softpack::testing
