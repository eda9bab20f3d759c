#include "artifacts/core/core_upload.hpp"

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

CorePublisher::CorePublisher(CoreOptions options, HttpTransport transport)
    : m_options(std::move(options)), m_transport(std::move(transport)) {}

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
    return status_error(*r, "POST " + post.url);
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
