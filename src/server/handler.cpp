// The routes of api.hpp. Everything here is a pure function of the request, the options and
// what the service answers, so the tests drive it without sockets.

#include "auth/authorization_header.hpp"
#include "server/api.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>
#include <variant>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

namespace softpack::server {

namespace json = boost::json;

bool CaseInsensitiveLess::operator()(const std::string& a, const std::string& b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) <
           std::tolower(static_cast<unsigned char>(y));
  });
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Every byte of `a` is visited whatever the contents; only the length difference shows.
  // The volatile accumulator keeps the compiler from turning the loop into an early exit.
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const unsigned char other = b.empty() ? 0 : static_cast<unsigned char>(b[i % b.size()]);
    diff = diff | (static_cast<unsigned char>(a[i]) ^ other);
  }
  return diff == 0;
}

namespace {

// Text that came from the outside (a header, an error quoting user input) may not be UTF-8;
// Boost.JSON writes string bytes as they are, so invalid sequences become U+FFFD first.
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    }
    bool ok = len != 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      ok = (cc & 0xc0) == 0x80;
      cp = (cp << 6) | (cc & 0x3f);
    }
    ok = ok && cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

Response json_response(int status, const json::object& obj) {
  Response r;
  r.status = status;
  r.body = json::serialize(obj);
  return r;
}

Response error_response(int status, std::string_view message) {
  Response r;
  r.status = status;
  r.body = error_json(message);
  return r;
}

Response method_not_allowed(std::string_view method, std::string_view allow) {
  Response r = error_response(405, "method " + valid_utf8(method) + " not allowed; use " +
                                       std::string(allow));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

// An anticipated service failure: the client's fault, worth retrying, or ours.
int status_for(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::invalid_input:
    return 400;
  case ErrorKind::not_found:
    return 404;
  case ErrorKind::conflict:
    return 409;
  case ErrorKind::transient:
  case ErrorKind::io:
    return 503;
  default:
    return 500;
  }
}

const std::string* header(const Request& request, const std::string& name) {
  auto it = request.headers.find(name);
  return it == request.headers.end() ? nullptr : &it->second;
}

// The routed path: without the query or fragment, and without one trailing slash, so that
// "/builds/" is "/builds" (clients and proxies add them; no route here needs the distinction).
std::string_view route_path(std::string_view target) {
  target = target.substr(0, target.find_first_of("?#"));
  if (target.size() > 1 && target.back() == '/') {
    target.remove_suffix(1);
  }
  return target;
}

// Build ids are [0-9A-Za-z-]; anything else cannot name a build.
bool valid_id(std::string_view id) {
  constexpr std::size_t k_max_id_length = 128;
  return !id.empty() && id.size() <= k_max_id_length &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
         });
}

bool is_get(const Request& r) {
  return r.method == "GET" || r.method == "HEAD";
}

constexpr std::string_view k_get = "GET, HEAD";

// The 401 for `message`, with the schemes this service takes.
Response unauthorized(std::string_view message, const HandlerOptions& options) {
  Response r = error_response(401, message);
  if (options.munge) {
    r.headers.emplace_back("WWW-Authenticate", "MUNGE");
  }
  if (!options.identity || !options.api_token.empty() || !options.tokens.empty()) {
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
  }
  return r;
}

bool any_token(const HandlerOptions& options) {
  return !options.api_token.empty() || !options.tokens.empty();
}

// softpack-core calls POST /environments/build with no credentials at all: from its addresses,
// a request without an Authorization header needs none.
bool from_core_client(const Request& request, const HandlerOptions& options) {
  if (request.unix_socket || header(request, "Authorization") != nullptr) {
    return false;
  }
  // Through a proxy, the peer is the proxy, whoever the client is: such requests need the token.
  for (const char* name : {"Forwarded", "X-Forwarded-For", "X-Real-IP"}) {
    if (header(request, name) != nullptr) {
      return false;
    }
  }
  const auto peer = parse_ip_address(request.peer);
  return peer && std::any_of(options.core_clients.begin(), options.core_clients.end(),
                             [&](const IpNetwork& n) { return n.contains(*peer); });
}

// Who sent a request. `open`: no credential is configured and identity is off, so anyone may
// (as before identities; the principal is then nobody).
struct Caller {
  auth::Principal principal;
  bool open = false;
};

// The bearer token `credential` names, checked against every token in the same time.
std::optional<auth::Principal> token_principal(std::string_view credential,
                                               const HandlerOptions& options) {
  std::optional<auth::Principal> found;
  auto check = [&](const std::string& name, const std::string& secret,
                   const std::vector<std::string>& routes) {
    if (!secret.empty() && constant_time_equal(credential, secret) && !found) {
      auth::Principal p;
      p.who = auth::Requester{auth::Requester::Kind::token, name, std::nullopt};
      p.routes = routes;
      p.via = "token";
      found = std::move(p);
    }
  };
  check("api", options.api_token, {"all"});
  for (const auto& t : options.tokens) {
    check(t.name, t.secret, t.routes);
  }
  return found;
}

// The caller, or the 401/503 refusing the request. `core_route`: the core_clients address rule
// applies (softpack-core's calls).
std::variant<Caller, Response> authenticate(const Request& request, const HandlerOptions& options,
                                            bool core_route) {
  if (request.auth_failure) {
    const auto& f = *request.auth_failure;
    return f.status == 401 ? unauthorized(f.message, options) : error_response(f.status, f.message);
  }
  if (request.principal) {
    return Caller{*request.principal, false};
  }
  if (const std::string* value = header(request, "Authorization")) {
    auto parsed = auth::parse_authorization(*value);
    if (!parsed) {
      return unauthorized(parsed.error().message, options);
    }
    if (parsed->scheme == auth::AuthHeader::Scheme::munge) {
      if (!options.munge) {
        return unauthorized(options.identity
                                ? "this service does not take MUNGE credentials (server.munge is "
                                  "off): use the socket or Authorization: Bearer <token>"
                                : "missing bearer token (Authorization: Bearer <token>); this "
                                  "service does not take MUNGE credentials",
                            options);
      }
      // The listener decodes every MUNGE credential before handle(); one that reaches here was
      // not checked.
      return error_response(503, "cannot check MUNGE credentials here");
    }
    if (auto p = token_principal(parsed->credential, options)) {
      return Caller{std::move(*p), false};
    }
    if (!options.identity && !any_token(options)) {
      return Caller{{}, true}; // no token is asked for: one sent is not checked (as before)
    }
    return unauthorized("invalid bearer token", options);
  }
  if (core_route && from_core_client(request, options)) {
    auth::Principal p;
    p.who = auth::Requester{auth::Requester::Kind::core, request.peer, std::nullopt};
    p.via = "core";
    return Caller{std::move(p), false};
  }
  if (!options.identity && !any_token(options)) {
    return Caller{{}, true};
  }
  if (!options.identity) {
    return unauthorized("missing bearer token (Authorization: Bearer <token>)", options);
  }
  std::string how;
  if (!options.munge) {
    how = "the socket " + options.socket_path + " (sp-submit --server " + options.socket_path + ")";
  } else if (options.socket_path.empty()) {
    how = "sp-submit (it sends a MUNGE credential)";
  } else {
    how = "sp-submit (it sends a MUNGE credential), the socket " + options.socket_path;
  }
  return unauthorized("no credential: use " + how + ", or Authorization: Bearer <token>", options);
}

// The caller's part of an audit line: "alice uid=1001 via=munge", "token ci via=token".
std::string audit_who(const Caller* caller) {
  if (caller == nullptr) {
    return "by - via=none";
  }
  if (caller->open) {
    return "by - via=open";
  }
  const auto& who = caller->principal.who;
  std::string out = "by " + printable(who.display());
  if (who.uid) {
    out += " uid=" + std::to_string(*who.uid);
  }
  return out + " via=" + caller->principal.via;
}

// The audit line of a mutating request: what, who, from where, and the decision.
void audit(Response& r, const Request& request, std::string_view what, const Caller* caller,
           std::string_view outcome) {
  std::string line = request.method + " " + printable(route_path(request.target));
  if (!what.empty()) {
    line += " " + printable(what, 200);
  }
  line += " " + audit_who(caller);
  line += " peer=" + (request.unix_socket ? std::string("socket")
                                          : (request.peer.empty() ? "-" : request.peer));
  line += " -> " + std::to_string(r.status);
  if (!outcome.empty()) {
    line += " " + printable(outcome, 300);
  }
  r.audit = std::move(line);
}

// The reason in an error response's body, for the audit line.
std::string reason_of(const Response& r) {
  if (r.status < 400) {
    return {}; // not an error: no message to read
  }
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (!ec && v.is_object()) {
    if (const auto* e = v.as_object().if_contains("error"); e && e->is_string()) {
      return std::string(e->as_string());
    }
  }
  return {};
}

// A user over server.user_rate_limit: the 429; else nullopt.
std::optional<Response> rate_limited(const Caller& caller, const HandlerOptions& options) {
  if (caller.open || !caller.principal.who.is_user() || options.rate_limiter == nullptr) {
    return std::nullopt;
  }
  const auto wait = options.rate_limiter->take(caller.principal.who.name, options.now());
  if (!wait) {
    return std::nullopt;
  }
  Response r = error_response(429, caller.principal.who.name +
                                       ": too many requests (server.user_rate_limit); retry in " +
                                       std::to_string(wait->count()) + " s");
  r.headers.emplace_back("Retry-After", std::to_string(wait->count()));
  return r;
}

json::value requester_json(const auth::Requester& who) {
  if (who.kind == auth::Requester::Kind::none) {
    return nullptr;
  }
  json::object o{{"kind", auth::kind_name(who.kind)}, {"name", valid_utf8(who.name)}};
  o["uid"] = who.uid ? json::value(*who.uid) : json::value(nullptr);
  return o;
}

// What an audit line says besides who: the subject (environment, build) and, on success, the
// outcome (an error's outcome is its message, read from the answer).
struct AuditNote {
  std::string what;
  std::string outcome;
};

Response post_build_as(const Request& request, ServiceApi& service, const HandlerOptions& options,
                       const Caller& caller, AuditNote& note) {
  if (auto limited = rate_limited(caller, options)) {
    return std::move(*limited);
  }
  auto spec = spec::parse_build_request_json(request.body);
  if (!spec) {
    return error_response(400, spec.error().describe());
  }
  const std::string name = spec->get().full_name();
  note.what = name;
  if (!caller.open) {
    auto d =
        auth::authorize(caller.principal, auth::Action::build, spec->get().path, options.policy);
    if (!d.allowed) {
      return error_response(403, d.reason);
    }
  }
  auto outcome = service.submit(*spec, caller.principal.who);
  if (!outcome) {
    return error_response(status_for(outcome.error().kind), outcome.error().describe());
  }
  note.outcome = "build=" + outcome->build_id;
  return json_response(
      200, {{"id", outcome->build_id},
            {"name", name},
            {"existing", outcome->existing},
            {"message", outcome->existing ? name + " is already building as " + outcome->build_id
                                          : name + " queued as build " + outcome->build_id},
            {"requested_by", requester_json(caller.principal.who)},
            {"queue_reason", valid_utf8(outcome->queue_reason)}});
}

Response post_build(const Request& request, ServiceApi& service, const HandlerOptions& options) {
  auto who = authenticate(request, options, true);
  const Caller* caller = std::get_if<Caller>(&who);
  AuditNote note;
  Response r = caller != nullptr ? post_build_as(request, service, options, *caller, note)
                                 : std::get<Response>(std::move(who));
  audit(r, request, note.what, caller, r.status == 200 ? note.outcome : reason_of(r));
  return r;
}

// Reads: open without identity, as before; with it, any caller.
std::optional<Response> check_reader(const Request& request, const HandlerOptions& options) {
  if (!options.identity) {
    return std::nullopt;
  }
  auto who = authenticate(request, options, true);
  if (auto* refused = std::get_if<Response>(&who)) {
    // Denials are logged, reads included.
    audit(*refused, request, "", nullptr, reason_of(*refused));
    return std::move(*refused);
  }
  return std::nullopt;
}

Response get_build(const std::string& id, ServiceApi& service) {
  auto body = service.build_json(id);
  if (!body) {
    return error_response(404, "no build " + id);
  }
  Response r;
  r.body = std::move(*body);
  return r;
}

Response delete_build_as(const std::string& id, ServiceApi& service, const HandlerOptions& options,
                         const Caller& caller, std::string& what) {
  if (auto limited = rate_limited(caller, options)) {
    return std::move(*limited);
  }
  if (!caller.open) {
    auto owner = service.build_owner(id);
    if (!owner) {
      return error_response(404, "no build " + id);
    }
    what = owner->env_path;
    auto d =
        auth::authorize(caller.principal, auth::Action::cancel, owner->env_path, options.policy);
    if (!d.allowed) {
      return error_response(403, d.reason);
    }
  }
  auto cancelled = service.cancel(id);
  if (!cancelled) {
    const Error& e = cancelled.error();
    // invalid_input here means the build cannot be cancelled in its state (it has finished).
    const int status = e.kind == ErrorKind::invalid_input ? 409 : status_for(e.kind);
    return error_response(status, e.describe());
  }
  if (!*cancelled) {
    return error_response(404, "no build " + id);
  }
  return json_response(200, {{"id", id}, {"cancelled", true}});
}

Response delete_build(const Request& request, const std::string& id, ServiceApi& service,
                      const HandlerOptions& options) {
  auto who = authenticate(request, options, false);
  const Caller* caller = std::get_if<Caller>(&who);
  std::string what;
  Response r = caller != nullptr ? delete_build_as(id, service, options, *caller, what)
                                 : std::get<Response>(std::move(who));
  audit(r, request, what.empty() ? "build=" + id : what + " build=" + id, caller, reason_of(r));
  return r;
}

Response healthz(ServiceApi& service) {
  if (auto ok = service.healthy(); !ok) {
    return json_response(503,
                         {{"status", "unhealthy"}, {"detail", valid_utf8(ok.error().describe())}});
  }
  return json_response(200, {{"status", "ok"}});
}

Response shared(std::shared_ptr<const std::string> body) {
  Response r;
  if (body) {
    r.shared_body = std::move(body);
  } else {
    r.body = "[]";
  }
  return r;
}

Response gitlab_webhook(const Request& request, ServiceApi& service,
                        const HandlerOptions& options) {
  const std::string* token = header(request, "X-Gitlab-Token");
  if (token == nullptr || !constant_time_equal(*token, options.gitlab_token)) {
    return error_response(401,
                          token == nullptr ? "missing X-Gitlab-Token" : "invalid X-Gitlab-Token");
  }
  // GitLab retries failed deliveries and disables hooks that keep failing, so an event this
  // service does not act on is accepted and ignored rather than refused.
  const std::string* event = header(request, "X-Gitlab-Event");
  if (event == nullptr || *event != "Push Hook") {
    const std::string name = event == nullptr ? std::string() : valid_utf8(*event);
    Response r = json_response(202, {{"ignored", name}});
    return r;
  }
  auto push = parse_push_hook(request.body);
  if (!push) {
    return error_response(400, push.error().describe());
  }
  const std::string id =
      delivery_id(header(request, "Idempotency-Key"), header(request, "X-Gitlab-Event-UUID"));
  auto outcome = service.gitlab_push(id, *push);
  if (!outcome) {
    return error_response(status_for(outcome.error().kind), outcome.error().describe());
  }
  return json_response(202,
                       {{"queued", outcome->queued}, {"message", valid_utf8(outcome->message)}});
}

Response route(const Request& request, ServiceApi& service, const HandlerOptions& options) {
  const std::string_view path = route_path(request.target);
  const std::string& method = request.method;
  if (request.body.size() > options.max_body_bytes) {
    return error_response(413, "request body over the limit of " +
                                   std::to_string(options.max_body_bytes) + " bytes");
  }

  if (path == "/environments/build") {
    if (method != "POST") {
      return method_not_allowed(method, "POST");
    }
    return post_build(request, service, options);
  }
  if (path == "/environments/status") {
    if (!is_get(request)) {
      return method_not_allowed(method, k_get);
    }
    if (auto refused = check_reader(request, options)) {
      return std::move(*refused);
    }
    return shared(service.environments_status_json());
  }
  if (path == "/builds") {
    if (!is_get(request)) {
      return method_not_allowed(method, k_get);
    }
    if (auto refused = check_reader(request, options)) {
      return std::move(*refused);
    }
    return shared(service.builds_json());
  }
  constexpr std::string_view k_builds = "/builds/";
  if (path.starts_with(k_builds)) {
    const std::string id(path.substr(k_builds.size()));
    if (!valid_id(id)) {
      return error_response(404, "no such route: " + valid_utf8(path));
    }
    if (is_get(request)) {
      if (auto refused = check_reader(request, options)) {
        return std::move(*refused);
      }
      return get_build(id, service);
    }
    if (method == "DELETE") {
      return delete_build(request, id, service, options);
    }
    return method_not_allowed(method, "GET, HEAD, DELETE");
  }
  if (path == "/healthz") {
    if (!is_get(request)) {
      return method_not_allowed(method, k_get);
    }
    return healthz(service);
  }
  if (path == "/metrics") {
    if (!is_get(request)) {
      return method_not_allowed(method, k_get);
    }
    Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = service.metrics_text();
    return r;
  }
  if (path == "/webhooks/gitlab" && !options.gitlab_token.empty()) {
    if (method != "POST") {
      return method_not_allowed(method, "POST");
    }
    Response r = gitlab_webhook(request, service, options);
    Caller gitlab;
    gitlab.principal.who.kind = auth::Requester::Kind::webhook;
    gitlab.principal.via = "gitlab-token";
    audit(r, request, "", r.status == 401 ? nullptr : &gitlab, reason_of(r));
    return r;
  }
  return error_response(404, "no such route: " + valid_utf8(path));
}

} // namespace

std::string error_json(std::string_view message) {
  return json::serialize(json::object{{"error", valid_utf8(message)}});
}

Response handle(const Request& request, ServiceApi& service, const HandlerOptions& options) {
  // The one place per request where exceptions stop: they are bugs, so they are logged.
  try {
    return route(request, service, options);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: unexpected exception: {}", request.method, request.target, e.what());
  } catch (...) {
    spdlog::error("{} {}: unexpected exception", request.method, request.target);
  }
  Response r;
  r.status = 500;
  r.body = R"({"error":"internal error"})";
  return r;
}

} // namespace softpack::server
