#include "cli/service_client.hpp"

#include "auth/binding.hpp"

#include <iostream>
#include <sys/stat.h>

namespace softpack::cli {

bool is_socket_path(const std::string& server) {
  if (server.starts_with("/") || server.starts_with("./") || server.starts_with("../")) {
    return true;
  }
  struct stat st {};
  return server.find("://") == std::string::npos && ::stat(server.c_str(), &st) == 0 &&
         S_ISSOCK(st.st_mode);
}

ServiceClient::ServiceClient(std::string server, std::string token, const config::Config& config,
                             std::shared_ptr<auth::MungeCodec> codec)
    : m_server(std::move(server)), m_token(std::move(token)), m_codec(std::move(codec)),
      m_ttl(static_cast<int>(config.server.munge_ttl.count())) {
  if (is_socket_path(m_server)) {
    m_socket = m_server;
    m_base = "http://localhost";
    return;
  }
  m_base = m_server;
  // The credential binds the path as sent: "http://host:7080/" + "/builds" would send "//builds".
  while (m_base.size() > 1 && m_base.back() == '/') {
    m_base.pop_back();
  }
  if (m_token.empty() && !m_codec) {
    m_codec = auth::make_libmunge_codec(config.server.munge_socket);
  }
}

std::string ServiceClient::identified_by() const {
  if (!m_socket.empty()) {
    return "socket";
  }
  if (!m_token.empty()) {
    return "token";
  }
  return m_munge_failed || !m_codec ? "nothing" : "MUNGE";
}

std::string ServiceClient::refusal_hint() const {
  if (!m_socket.empty()) {
    return "the service identified you by the socket " + m_socket;
  }
  if (!m_token.empty()) {
    return "the API token given (--token-file or $SOFTPACK_API_TOKEN) was sent";
  }
  if (m_munge_failed) {
    return "no MUNGE credential could be made (is munged running?); a service account gives "
           "its API token with --token-file FILE or $SOFTPACK_API_TOKEN";
  }
  return "a MUNGE credential was sent; a service account gives its API token with "
         "--token-file FILE or $SOFTPACK_API_TOKEN";
}

Expected<HttpResponse> ServiceClient::request(const std::string& method, const std::string& path,
                                              const std::string& body) {
  HttpRequest r;
  r.method = method;
  r.url = m_base + path;
  r.unix_socket = m_socket;
  r.body = body;
  if (!body.empty()) {
    r.headers.emplace_back("Content-Type", "application/json");
  }
  if (m_socket.empty()) {
    if (!m_token.empty()) {
      r.headers.emplace_back("Authorization", "Bearer " + m_token);
    } else if (m_codec && !m_munge_failed) {
      auto cred = m_codec->encode(auth::request_binding(method, path, body), m_ttl);
      if (cred) {
        r.headers.emplace_back("Authorization", "MUNGE " + *cred);
      } else {
        m_munge_failed = true;
        std::cerr << m_program << ": cannot make a MUNGE credential (" << cred.error().describe()
                  << "); sending the request without one\n";
      }
    }
  }
  return http_perform(r);
}

} // namespace softpack::cli
