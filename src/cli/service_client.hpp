#pragma once

// How sp-submit and `softpack-builder status/cancel` reach the service, and prove who they are:
//   --server /path/api.sock  the Unix socket: the service identifies us by SO_PEERCRED;
//   --server http(s)://...   a bearer token when one is given (--token-file, $SOFTPACK_API_TOKEN,
//                            a readable server.api_token_file: services and admins), else a
//                            fresh MUNGE credential per request, bound to that request.

#include "auth/munge_codec.hpp"
#include "config/config.hpp"
#include "util/error.hpp"
#include "util/http_client.hpp"

#include <memory>
#include <string>

namespace softpack::cli {

// Whether --server names a Unix socket (a path) rather than a URL.
bool is_socket_path(const std::string& server);

class ServiceClient {
public:
  // `server`: a URL or a socket path; `token`: "" for none. `codec`: for MUNGE (nullptr = make
  // libmunge's with the configuration's server.munge_socket).
  ServiceClient(std::string server, std::string token, const config::Config& config,
                std::shared_ptr<auth::MungeCodec> codec = nullptr);

  // One request; `path` starts with '/'. A MUNGE credential that cannot be made is noted on
  // stderr once, and the request goes without one (the service says whether it needs one).
  Expected<HttpResponse> request(const std::string& method, const std::string& path,
                                 const std::string& body = {});
  // The name notes on stderr start with.
  void set_program(std::string name) { m_program = std::move(name); }
  // The URL or the socket, for messages.
  const std::string& where() const { return m_server; }
  // How we identify ourselves: "socket", "token", "MUNGE", or "nothing".
  std::string identified_by() const;
  // What to do about a 401/403, for the line after the service's reason.
  std::string refusal_hint() const;

private:
  std::string m_server;
  std::string m_base; // the URL requests are made against
  std::string m_socket;
  std::string m_token;
  std::shared_ptr<auth::MungeCodec> m_codec;
  int m_ttl = 60;
  bool m_munge_failed = false;
  std::string m_program = "sp-submit";
};

} // namespace softpack::cli
