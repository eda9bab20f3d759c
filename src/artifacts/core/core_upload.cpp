#include "artifacts/core/core_upload.hpp"

#include "util/fs.hpp"

#include <memory>
#include <mutex>

#include <spdlog/spdlog.h>

namespace softpack::artifacts {

namespace {

std::string without_trailing_slash(std::string url) {
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  return url;
}

Error status_error(const HttpResponse& r, const std::string& what) {
  return make_error(ErrorKind::transient, "softpack-core answered " + r.summary(), what);
}

} // namespace

Expected<CoreOptions> read_core_options(MapReader& section) {
  CoreOptions o;
  SOFTPACK_TRY(section.string("url", o.url));
  SOFTPACK_TRY(section.duration("timeout", o.timeout));
  if (!o.url.empty()) {
    if (auto ok = check_http_url(o.url); !ok) {
      return section.error("url", ok.error().message);
    }
  }
  return o;
}

std::string core_upload_url(const std::string& base_url, const spec::EnvironmentSpec& spec) {
  // The spec's fields are restricted to [A-Za-z0-9_.-] and '/', which need no escaping, and
  // softpack-core reads the query as the raw path.
  return without_trailing_slash(base_url) + "/upload?" + spec.full_name();
}

CorePublisher::CorePublisher(CoreOptions options, HttpTransport transport, CoreHasFiles has_files)
    : m_options(std::move(options)), m_transport(std::move(transport)),
      m_has_files(std::move(has_files)) {}

CoreHasFiles core_repository_check(CommandRunner& runner, GitReaderOptions repository,
                                   std::string branch) {
  auto mutex = std::make_shared<std::mutex>();
  return [&runner, repository = std::move(repository), branch = std::move(branch),
          mutex](const PublishRequest& request) -> Expected<std::optional<std::string>> {
    std::lock_guard lock(*mutex);
    GitReader reader(runner, repository);
    if (auto f = reader.fetch(); !f) {
      return f.error();
    }
    auto tip = reader.tip(branch);
    if (!tip) {
      return tip.error();
    }
    if (!tip->has_value()) {
      return std::optional<std::string>{};
    }
    const std::string dir = environment_dir(request.spec);
    for (const auto& name : artifact_files(request.success)) {
      auto ours = read_file(request.out_dir / name, 64 << 20);
      if (!ours) {
        return ours.error();
      }
      auto theirs = reader.read(**tip, dir + "/" + name);
      if (!theirs) {
        return theirs.error();
      }
      if (!theirs->has_value() || **theirs != *ours) {
        return std::optional<std::string>{};
      }
    }
    return *tip;
  };
}

Expected<PublishResult> CorePublisher::publish(const PublishRequest& request) {
  HttpRequest post;
  post.method = "POST";
  post.url = core_upload_url(m_options.url, request.spec);
  post.timeout = m_options.timeout;
  for (const auto& file : artifact_files(request.success)) {
    const auto path = request.out_dir / file;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      return make_error(ErrorKind::io, "artifact is missing", path.string());
    }
    post.multipart.push_back({"file", path, file});
  }
  auto r = m_transport(post);
  if (!r) {
    return r.error();
  }
  if (r->status < 200 || r->status > 299) {
    Error refused = status_error(*r, "POST " + post.url);
    if (m_has_files && r->status >= 500) {
      auto has = m_has_files(request);
      if (has && has->has_value()) {
        spdlog::info("softpack-core answered {} to the upload of build {}, but its repository "
                     "already holds these files (commit {}): an earlier upload's answer was lost",
                     r->summary(), request.build_id, **has);
        return PublishResult{"core " + without_trailing_slash(m_options.url), post.url};
      }
      if (!has) {
        refused.message += " (and its repository could not be read to tell whether it already "
                           "has the files: " +
                           has.error().describe() + ")";
      }
    }
    return refused;
  }
  return PublishResult{"core " + without_trailing_slash(m_options.url), post.url};
}

Expected<void> resend_pending_builds(const CoreOptions& options, const HttpTransport& transport) {
  HttpRequest post;
  post.method = "POST";
  post.url = without_trailing_slash(options.url) + "/resend-pending-builds";
  post.timeout = options.timeout;
  auto r = transport(post);
  if (!r) {
    return r.error();
  }
  if (r->status < 200 || r->status > 299) {
    return status_error(*r, "POST " + post.url);
  }
  return {};
}

} // namespace softpack::artifacts
