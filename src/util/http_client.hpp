#pragma once

// A small blocking HTTP client (libcurl), for the command-line tools talking to the service and
// for the publishers (OCI registry, softpack-core). Bodies can be streamed from files, so an
// image of several GB is never read into memory. Credentials travel in curl options, never in
// URLs, and no error message carries them.

#include "util/error.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace softpack {

// One part of a multipart/form-data body: a file streamed from disk.
struct MultipartFile {
  std::string field;          // the form field's name, e.g. "file"
  std::filesystem::path path; // the file sent
  std::string filename;       // the name given to the server; empty = path's basename
};

struct HttpRequest {
  std::string method = "GET"; // GET, HEAD, POST, PUT, DELETE, PATCH
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  // The body: `body` (a string), or the file `body_file` streamed, or `multipart` parts. At
  // most one of them is used, in that order of precedence: body_file, multipart, body.
  std::string body;
  std::filesystem::path body_file;
  std::vector<MultipartFile> multipart;
  // Basic authentication when `username` is not empty.
  std::string username;
  std::string password;
  // CA bundle for https; empty = the system's.
  std::string ca_file;
  // Connect to this Unix-domain socket instead of the URL's host (the URL's path is used).
  std::string unix_socket;
  // Limit on the whole request; zero = none (use idle_timeout for big transfers).
  std::chrono::seconds timeout{30};
  // The request fails when it moves less than one byte per second for this long; zero = off.
  std::chrono::seconds idle_timeout{0};
};

struct HttpResponse {
  long status = 0;
  std::string body;
  // Header names in lowercase; the last value of a repeated header wins.
  std::map<std::string, std::string> headers;

  std::string header(const std::string& lowercase_name) const;
  // "HTTP 503: <the body's start on one line>", for error messages (servers explain refusals
  // in the body; nothing of the request, so no credential, is in it).
  std::string summary() const;
};

// Performs `request`. Redirects are not followed. Network failures (refused, timed out, TLS) are
// transient errors naming the method and the URL; any HTTP status is a response. A body file
// that cannot be opened is an io error.
Expected<HttpResponse> http_perform(const HttpRequest& request);

// How the publishers send requests: http_perform, or a stand-in in tests.
using HttpTransport = std::function<Expected<HttpResponse>(const HttpRequest&)>;

// `value` percent-encoded for a query string or a path segment (RFC 3986 unreserved kept).
std::string url_encode(std::string_view value);

} // namespace softpack
