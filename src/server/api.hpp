#pragma once

// The HTTP API as a function from request to response (no sockets), and the service behind it.
// Routes:
//   POST   /environments/build   go-softpack-builder's contract (JSON request -> 200 / 400)
//   GET    /environments/status  go-softpack-builder's status array
//   GET    /builds               all builds
//   GET    /builds/{id}          one build: stages, job ids, states, reasons, times, log tails
//   DELETE /builds/{id}          cancel (all its jobs in one scheduler call)
//   GET    /healthz
//   GET    /metrics              Prometheus text format
//   POST   /webhooks/gitlab      GitLab Push Hook (X-Gitlab-Token, X-Gitlab-Event, delivery id
//                                from Idempotency-Key or X-Gitlab-Event-UUID); 202 quickly,
//                                the repository is read asynchronously
// Every error is a JSON body {"error": "<message>"}; bad JSON -> 400, unknown route -> 404,
// a different spec for an environment that is building -> 409 (the same spec: 200, existing),
// wrong method -> 405 (with Allow), over the body limit -> 413, missing/wrong bearer token on a
// mutating endpoint -> 401 (POST /environments/build from a core client needs none).
//
// Identity (server.socket, server.munge; docs/operations.md "Security"): the listener resolves
// a Unix-socket peer (SO_PEERCRED) or a MUNGE credential to a principal before handle(); named
// tokens and the core_clients address rule are checked here. With identity on every route but
// /healthz and /metrics needs a caller: none -> 401, a credential that fails -> 401 (503 when
// munged cannot be asked), not allowed -> 403 with the reason, a user over
// server.user_rate_limit -> 429 with Retry-After. Each mutating request gets one audit line.

#include "auth/identity.hpp"
#include "auth/policy.hpp"
#include "auth/rate_limit.hpp"
#include "auth/resolver.hpp"
#include "server/gitlab.hpp"
#include "spec/spec.hpp"
#include "util/error.hpp"
#include "util/net.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace softpack::server {

struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const;
};

struct Request {
  std::string method; // "GET", "POST", ...
  std::string target; // "/builds/123?x=y"
  std::map<std::string, std::string, CaseInsensitiveLess> headers;
  std::string body;
  std::string peer;         // the client's IP address ("127.0.0.1", "::1"); empty when unknown
  bool unix_socket = false; // came over server.socket (the peer is identified, not addressed)
  // Filled by the listener before handle(): who the socket peer or MUNGE credential is, or why
  // the credential was refused.
  std::optional<auth::Principal> principal;
  std::optional<auth::AuthFailure> auth_failure;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers; // extra headers (Allow, ...)
  // When set, the body is this shared buffer (e.g. a cached status document) instead of `body`.
  std::shared_ptr<const std::string> shared_body;
  // For a mutating request: the audit line (who, what, the decision; never a credential), which
  // the listener logs.
  std::string audit;
  const std::string& payload() const { return shared_body ? *shared_body : body; }
};

struct SubmitOutcome {
  std::string build_id;
  bool existing = false; // the same environment and version was already building
  // Why the build waits, when it does ("waiting: alice has 2 builds in flight ..."); else "".
  std::string queue_reason;
};

// Whose a build is: what the policy checks a cancel against.
struct BuildOwner {
  std::string env_path; // "users/alice" or "groups/hgi"
  auth::Requester requested_by;
};

struct WebhookOutcome {
  bool queued = false; // the push is read from the repository, asynchronously
  std::string message;
};

// What the HTTP layer needs from the service. Called on the service's io_context thread.
class ServiceApi {
public:
  virtual ~ServiceApi() = default;
  // A build of `spec`, attributed to `requester` (recorded, shown, and counted against
  // server.max_builds_per_user when a user).
  virtual Expected<SubmitOutcome> submit(const spec::ValidSpec& spec,
                                         const auth::Requester& requester) = 0;
  // nullopt when there is no such build.
  virtual std::optional<BuildOwner> build_owner(const std::string& id) = 0;
  // The JSON array for GET /environments/status; cached by the service, so cheap.
  virtual std::shared_ptr<const std::string> environments_status_json() = 0;
  virtual std::shared_ptr<const std::string> builds_json() = 0;
  // nullopt when there is no such build.
  virtual std::optional<std::string> build_json(const std::string& id) = 0;
  // false when there is no such build; an error when it cannot be cancelled now.
  virtual Expected<bool> cancel(const std::string& id) = 0;
  virtual std::string metrics_text() = 0;
  // An error saying why when the service cannot do its work (e.g. the store is failing).
  virtual Expected<void> healthy() = 0;
  // An authenticated, parsed push; must return quickly (work continues asynchronously).
  virtual Expected<WebhookOutcome> gitlab_push(const std::string& delivery_id,
                                               const GitlabPush& push) = 0;
};

// A bearer token and what it may do (auth/policy.hpp routes).
struct NamedToken {
  std::string name;
  std::string secret;
  std::vector<std::string> routes;
};

struct HandlerOptions {
  std::string api_token; // bearer token for mutating endpoints; empty = none required
  // Tokens of services and scripts (server.tokens); api_token is the token "api" (all routes).
  std::vector<NamedToken> tokens;
  // Identity on: a caller is needed for reads too, users are identified (socket, MUNGE).
  bool identity = false;
  bool munge = false;      // Authorization: MUNGE taken (resolved by the listener)
  std::string socket_path; // for messages
  auth::Policy policy;     // admins
  // Per-user limit of mutating requests (nullptr = none), and the clock it is read with.
  auth::RateLimiter* rate_limiter = nullptr;
  std::chrono::steady_clock::time_point (*now)() = [] { return std::chrono::steady_clock::now(); };
  // Clients that may POST /environments/build without a token (softpack-core sends none). A
  // request from them that does carry an Authorization header has it checked.
  std::vector<IpNetwork> core_clients;
  std::string gitlab_token; // X-Gitlab-Token; empty = webhook disabled (404)
  std::size_t max_body_bytes = 1 << 20;
};

// Routes one request. Never throws; an unexpected exception becomes a 500 JSON error.
Response handle(const Request& request, ServiceApi& service, const HandlerOptions& options);

// Compares secrets in time independent of where they differ.
bool constant_time_equal(std::string_view a, std::string_view b);

// {"error": message}
std::string error_json(std::string_view message);

} // namespace softpack::server
