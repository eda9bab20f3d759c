#include "artifacts/registry/oci_registry.hpp"

#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/text.hpp"

#include <fstream>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

namespace softpack::artifacts {

namespace json = boost::json;

namespace {

constexpr const char* k_image = "singularity.sif";
constexpr const char* k_manifest_type = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* k_config_type = "application/vnd.sylabs.sif.config.v1+json";
constexpr const char* k_layer_type = "application/vnd.sylabs.sif.layer.v1.sif";
constexpr const char* k_config_data = "{}";
constexpr std::size_t k_max_repository = 255;

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// One path component of the distribution spec's name grammar:
// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool valid_component(std::string_view s) {
  std::size_t i = 0;
  auto run = [&] {
    const std::size_t start = i;
    while (i < s.size() && is_lower_alnum(s[i])) {
      ++i;
    }
    return i > start;
  };
  if (!run()) {
    return false;
  }
  while (i < s.size()) {
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      i += (i + 1 < s.size() && s[i + 1] == '_') ? 2 : 1;
    } else if (s[i] == '-') {
      while (i < s.size() && s[i] == '-') {
        ++i;
      }
    } else {
      return false;
    }
    if (!run()) {
      return false;
    }
  }
  return true;
}

std::string replace_slashes(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '/') {
      c = '-';
    }
  }
  return out;
}

// A registry's refusal: its error body says why. 401/403 are the site's credentials (config);
// anything else may pass (retried).
Error http_error(const HttpResponse& r, const std::string& what) {
  const ErrorKind kind =
      (r.status == 401 || r.status == 403) ? ErrorKind::config : ErrorKind::transient;
  return make_error(kind, "registry answered " + r.summary(), what);
}

} // namespace

Expected<RegistryLocation> parse_registry_url(std::string_view url) {
  auto bad = [&](const std::string& why) {
    return make_error(ErrorKind::config, why + " (got '" + std::string(url) + "')", "registry.url");
  };
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) {
    return bad("not an absolute URL");
  }
  const auto scheme = to_lower(parsed->scheme());
  if (scheme != "http" && scheme != "https") {
    return bad("the registry URL must be http:// or https://");
  }
  if (parsed->has_userinfo()) {
    return bad("credentials do not belong in the URL; use registry.credentials_file");
  }
  if (parsed->has_query() || parsed->has_fragment()) {
    return bad("the registry URL takes no query or fragment");
  }
  if (parsed->encoded_host().empty()) {
    return bad("the registry URL has no host");
  }
  RegistryLocation loc;
  loc.host = std::string(parsed->encoded_host_and_port());
  loc.base = scheme + "://" + loc.host;
  std::string_view path = parsed->encoded_path();
  while (!path.empty() && path.front() == '/') {
    path.remove_prefix(1);
  }
  while (!path.empty() && path.back() == '/') {
    path.remove_suffix(1);
  }
  if (!path.empty()) {
    std::string_view rest = path;
    while (true) {
      const auto slash = rest.find('/');
      if (!valid_component(rest.substr(0, slash))) {
        return bad("the namespace '" + std::string(path) +
                   "' is not a valid repository path (lowercase [a-z0-9] words joined by '.', "
                   "'_', '__' or '-', separated by '/')");
      }
      if (slash == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(slash + 1);
    }
    loc.name_prefix = std::string(path);
  }
  return loc;
}

Expected<std::string> registry_repository(std::string_view name_prefix,
                                          const spec::EnvironmentSpec& spec) {
  const std::string path = to_lower(replace_slashes(spec.path));
  const std::string name = to_lower(spec.name);
  auto refuse = [](const std::string& field, const std::string& value, const std::string& why) {
    return make_error(ErrorKind::invalid_input,
                      "'" + value + "' cannot be part of an OCI repository name: " + why +
                          " (the registry accepts lowercase [a-z0-9] words joined by '.', '_', "
                          "'__' or dashes)",
                      field);
  };
  if (!valid_component(path)) {
    return refuse("path", spec.path, "it would become '" + path + "'");
  }
  if (!valid_component(name)) {
    return refuse("name", spec.name, "it would become '" + name + "'");
  }
  std::string repository =
      (name_prefix.empty() ? std::string() : std::string(name_prefix) + "/") + path + "/" + name;
  if (repository.size() > k_max_repository) {
    return make_error(ErrorKind::invalid_input,
                      "the OCI repository name '" + repository + "' is longer than " +
                          std::to_string(k_max_repository) + " characters",
                      "name");
  }
  return repository;
}

Expected<std::string> registry_tag(const spec::EnvironmentSpec& spec) {
  const std::string& v = spec.version;
  bool ok = !v.empty() && v.size() <= 128 && v.front() != '.' && v.front() != '-';
  for (const char c : v) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '.' || c == '-');
  }
  if (!ok) {
    return make_error(ErrorKind::invalid_input,
                      "'" + v +
                          "' cannot be an OCI tag: tags match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}",
                      "version");
  }
  return v;
}

Expected<void> check_registry_names(std::string_view name_prefix,
                                    const spec::EnvironmentSpec& spec) {
  if (auto r = registry_repository(name_prefix, spec); !r) {
    return r.error();
  }
  if (auto t = registry_tag(spec); !t) {
    return t.error();
  }
  return {};
}

std::string sif_manifest_json(const BlobRef& config, const BlobRef& layer,
                              std::string_view layer_title) {
  const std::string title = json::serialize(json::string(layer_title));
  return std::string("{\"schemaVersion\":2,\"mediaType\":\"") + k_manifest_type +
         "\",\"config\":{\"mediaType\":\"" + k_config_type + "\",\"digest\":\"" + config.digest +
         "\",\"size\":" + std::to_string(config.size) + "},\"layers\":[{\"mediaType\":\"" +
         k_layer_type + "\",\"digest\":\"" + layer.digest +
         "\",\"size\":" + std::to_string(layer.size) +
         ",\"annotations\":{\"org.opencontainers.image.title\":" + title + "}}]}";
}

Expected<AuthChallenge> parse_www_authenticate(std::string_view header) {
  auto bad = [&] {
    return make_error(ErrorKind::transient,
                      "cannot read the registry's WWW-Authenticate header '" +
                          std::string(header.substr(0, 200)) + "'",
                      "registry");
  };
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < header.size() && (header[i] == ' ' || header[i] == '\t')) {
      ++i;
    }
  };
  auto token = [&] {
    const std::size_t start = i;
    while (i < header.size() && header[i] != ' ' && header[i] != '\t' && header[i] != '=' &&
           header[i] != ',') {
      ++i;
    }
    return std::string(header.substr(start, i - start));
  };
  skip_space();
  AuthChallenge c;
  c.scheme = to_lower(token());
  if (c.scheme.empty()) {
    return bad();
  }
  // auth-params: name=value or name="quoted value", separated by commas.
  while (true) {
    skip_space();
    if (i < header.size() && header[i] == ',') {
      ++i;
      continue;
    }
    if (i >= header.size()) {
      break;
    }
    const std::string name = to_lower(token());
    skip_space();
    if (name.empty()) {
      return bad();
    }
    if (i >= header.size() || header[i] != '=') {
      break; // a name without '=' starts another challenge; only the first one is read
    }
    ++i;
    skip_space();
    std::string value;
    if (i < header.size() && header[i] == '"') {
      ++i;
      bool closed = false;
      while (i < header.size()) {
        const char ch = header[i++];
        if (ch == '\\' && i < header.size()) {
          value += header[i++];
        } else if (ch == '"') {
          closed = true;
          break;
        } else {
          value += ch;
        }
      }
      if (!closed) {
        return bad();
      }
    } else {
      value = token();
    }
    if (name == "realm") {
      c.realm = value;
    } else if (name == "service") {
      c.service = value;
    } else if (name == "scope") {
      c.scope = value;
    }
  }
  if (c.scheme == "bearer" && c.realm.empty()) {
    return bad();
  }
  return c;
}

Expected<std::string> parse_token_response(std::string_view body) {
  boost::system::error_code ec;
  const json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    for (const char* key : {"token", "access_token"}) {
      if (const auto* t = v.as_object().if_contains(key);
          t && t->is_string() && !t->as_string().empty()) {
        return std::string(t->as_string());
      }
    }
  }
  return make_error(ErrorKind::transient, "the registry's token server answered without a token",
                    "registry");
}

Expected<BlobRef> file_blob(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(ErrorKind::io, "cannot read the image", path.string());
  }
  Sha256 hash;
  BlobRef blob;
  std::string buffer(1 << 20, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    hash.update(std::string_view(buffer.data(), n));
    blob.size += n;
  }
  if (in.bad()) {
    return make_error(ErrorKind::io, "error reading the image", path.string());
  }
  blob.digest = "sha256:" + hash.hex_digest();
  return blob;
}

struct RegistryPublisher::Session {
  RegistryLocation location;
  std::string repository;
  std::string bearer;     // "Bearer <token>" once earned
  bool use_basic = false; // the registry asked for Basic
};

Expected<RegistryOptions> read_registry_options(MapReader& section) {
  RegistryOptions o;
  SOFTPACK_TRY(section.string("url", o.url));
  SOFTPACK_TRY(section.string("credentials_file", o.credentials_file));
  SOFTPACK_TRY(section.string("ca_file", o.ca_file));
  SOFTPACK_TRY(section.duration("timeout", o.timeout));
  if (!o.url.empty()) {
    if (auto ok = check_http_url(o.url); !ok) {
      return section.error("url", ok.error().message);
    }
  }
  return o;
}

Expected<RegistryOptions> with_registry_credentials(RegistryOptions options) {
  auto secret = read_secret("SOFTPACK_REGISTRY_CREDENTIALS", options.credentials_file);
  if (!secret) {
    return secret.error();
  }
  if (secret->empty()) {
    return options;
  }
  const auto colon = secret->find(':');
  if (colon == std::string::npos || colon == 0) {
    return make_error(ErrorKind::config, "registry credentials must be \"username:password\"",
                      options.credentials_file.empty()
                          ? std::string("$SOFTPACK_REGISTRY_CREDENTIALS")
                          : options.credentials_file);
  }
  options.username = secret->substr(0, colon);
  options.password = secret->substr(colon + 1);
  return options;
}

RegistryPublisher::RegistryPublisher(RegistryOptions options, HttpTransport transport)
    : m_options(std::move(options)), m_location(parse_registry_url(m_options.url)),
      m_transport(std::move(transport)) {}

Expected<void> RegistryPublisher::accepts(const spec::EnvironmentSpec& spec) const {
  return check_registry_names(m_location ? m_location->name_prefix : std::string(), spec);
}

Expected<void> RegistryPublisher::authorize(Session& s, const HttpResponse& response) {
  const std::string header = response.header("www-authenticate");
  if (header.empty()) {
    return http_error(response, "registry " + s.location.host);
  }
  auto challenge = parse_www_authenticate(header);
  if (!challenge) {
    return challenge.error();
  }
  if (challenge->scheme == "basic") {
    if (m_options.username.empty()) {
      return make_error(ErrorKind::config,
                        "the registry asks for credentials and none are configured "
                        "(registry.credentials_file or $SOFTPACK_REGISTRY_CREDENTIALS)",
                        "registry " + s.location.host);
    }
    s.use_basic = true;
    return {};
  }
  if (challenge->scheme != "bearer") {
    return make_error(ErrorKind::config,
                      "the registry asks for an unsupported authentication scheme '" +
                          challenge->scheme + "'",
                      "registry " + s.location.host);
  }
  const std::string scope =
      challenge->scope.empty() ? "repository:" + s.repository + ":pull,push" : challenge->scope;
  HttpRequest token;
  token.url = challenge->realm;
  token.url += (token.url.find('?') == std::string::npos ? '?' : '&');
  if (!challenge->service.empty()) {
    token.url += "service=" + url_encode(challenge->service) + "&";
  }
  token.url += "scope=" + url_encode(scope);
  token.username = m_options.username;
  token.password = m_options.password;
  token.ca_file = m_options.ca_file;
  token.timeout = m_options.timeout;
  auto r = m_transport(token);
  if (!r) {
    return r.error();
  }
  if (r->status != 200) {
    return http_error(*r, "registry token server " + challenge->realm);
  }
  auto t = parse_token_response(r->body);
  if (!t) {
    return t.error().with_context(challenge->realm);
  }
  s.bearer = "Bearer " + *t;
  return {};
}

Expected<HttpResponse> RegistryPublisher::send(Session& s, HttpRequest request, bool big) {
  request.ca_file = m_options.ca_file;
  request.idle_timeout = m_options.timeout;
  request.timeout = big ? std::chrono::seconds(0) : m_options.timeout;
  for (int attempt = 0;; ++attempt) {
    HttpRequest r = request;
    if (!s.bearer.empty()) {
      r.headers.emplace_back("Authorization", s.bearer);
    } else if (s.use_basic) {
      r.username = m_options.username;
      r.password = m_options.password;
    }
    auto response = m_transport(r);
    if (!response || response->status != 401) {
      return response;
    }
    if (attempt > 0) {
      return make_error(ErrorKind::config,
                        "the registry refused the configured credentials (HTTP 401)",
                        request.method + " " + request.url);
    }
    if (auto a = authorize(s, *response); !a) {
      return a.error();
    }
  }
}

// An upload's Location: absolute, or relative to the registry (as docker-registry sends it).
std::string RegistryPublisher::resolve(const Session& s, const std::string& location) {
  if (location.starts_with("http://") || location.starts_with("https://")) {
    return location;
  }
  return s.location.base + (location.starts_with("/") ? "" : "/") + location;
}

Expected<void> RegistryPublisher::push_blob(Session& s, const BlobRef& blob,
                                            const std::string& data,
                                            const std::filesystem::path& file) {
  const std::string blobs = s.location.base + "/v2/" + s.repository + "/blobs/";
  HttpRequest head;
  head.method = "HEAD";
  head.url = blobs + blob.digest;
  auto h = send(s, head);
  if (!h) {
    return h.error();
  }
  if (h->status == 200) {
    return {}; // already there
  }
  HttpRequest start;
  start.method = "POST";
  start.url = blobs + "uploads/";
  auto st = send(s, start);
  if (!st) {
    return st.error();
  }
  const std::string location = st->header("location");
  if (st->status != 202 || location.empty()) {
    return http_error(*st, "POST " + start.url);
  }
  HttpRequest put;
  put.method = "PUT";
  put.url = resolve(s, location);
  put.url += (put.url.find('?') == std::string::npos ? '?' : '&');
  put.url += "digest=" + url_encode(blob.digest);
  put.headers.emplace_back("Content-Type", "application/octet-stream");
  if (file.empty()) {
    put.body = data;
  } else {
    put.body_file = file;
  }
  auto p = send(s, put, !file.empty());
  if (!p) {
    return p.error();
  }
  if (p->status != 201) {
    return http_error(*p,
                      "PUT blob " + blob.digest + " to " + s.location.host + "/" + s.repository);
  }
  return {};
}

Expected<PublishResult> RegistryPublisher::publish(const PublishRequest& request) {
  if (!request.success) {
    return make_error(ErrorKind::internal, "a failed build has no image to push", "registry");
  }
  if (!m_location) {
    return m_location.error();
  }
  Session s;
  s.location = *m_location;
  auto repository = registry_repository(m_location->name_prefix, request.spec);
  if (!repository) {
    return repository.error();
  }
  s.repository = *repository;
  auto tag = registry_tag(request.spec);
  if (!tag) {
    return tag.error();
  }
  const auto image = request.out_dir / k_image;
  auto layer = file_blob(image);
  if (!layer) {
    return layer.error();
  }
  const BlobRef config{"sha256:" + sha256_hex(k_config_data),
                       std::string_view(k_config_data).size()};
  if (auto b = push_blob(s, config, k_config_data, {}); !b) {
    return b.error();
  }
  if (auto b = push_blob(s, *layer, {}, image); !b) {
    return b.error();
  }
  const std::string manifest = sif_manifest_json(config, *layer, k_image);
  HttpRequest put;
  put.method = "PUT";
  put.url = s.location.base + "/v2/" + s.repository + "/manifests/" + *tag;
  put.headers.emplace_back("Content-Type", k_manifest_type);
  put.body = manifest;
  auto m = send(s, put);
  if (!m) {
    return m.error();
  }
  if (m->status != 201 && m->status != 200) {
    return http_error(*m, "PUT manifest " + s.location.host + "/" + s.repository + ":" + *tag);
  }
  const std::string where = s.location.host + "/" + s.repository + ":" + *tag;
  return PublishResult{"registry oras://" + where, where + "@sha256:" + sha256_hex(manifest)};
}

} // namespace softpack::artifacts
