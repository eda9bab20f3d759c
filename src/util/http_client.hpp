#pragma once

// A small blocking HTTP client (libcurl) for the command-line tools talking to the service.

#include "util/error.hpp"

#include <chrono>
#include <map>
#include <string>

namespace softpack {

struct HttpResult {
  long status = 0;
  std::string body;
};

// `method` GET/POST/DELETE; `body` sent as application/json when not empty. Network failures
// are transient errors naming the URL; any HTTP status is a result.
Expected<HttpResult> http_request(const std::string& method, const std::string& url,
                                  const std::string& body = {},
                                  const std::map<std::string, std::string>& headers = {},
                                  std::chrono::seconds timeout = std::chrono::seconds(30));

} // namespace softpack
