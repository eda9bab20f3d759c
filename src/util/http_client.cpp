#include "util/http_client.hpp"

#include "util/text.hpp"

#include <cctype>
#include <cstdio>
#include <memory>
#include <mutex>

#include <curl/curl.h>

namespace softpack {

namespace {

void global_init() {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t on_data(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// Collects the response's headers; a new status line (after "100 Continue", say) starts over.
std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto& headers = *static_cast<std::map<std::string, std::string>*>(user);
  const std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    headers.clear();
  } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    headers[to_lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  return size * n;
}

std::size_t on_read(char* buffer, std::size_t size, std::size_t n, void* user) {
  return std::fread(buffer, size, n, static_cast<std::FILE*>(user)) * size;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
  void operator()(curl_mime* m) const { curl_mime_free(m); }
  void operator()(std::FILE* f) const { std::fclose(f); }
};

} // namespace

std::string HttpResponse::header(const std::string& lowercase_name) const {
  const auto it = headers.find(lowercase_name);
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpResponse::summary() const {
  std::string excerpt = body.substr(0, 300);
  for (char& c : excerpt) {
    if (c == '\n' || c == '\r') {
      c = ' ';
    }
  }
  return "HTTP " + std::to_string(status) + (excerpt.empty() ? std::string() : ": " + excerpt);
}

Expected<HttpResponse> http_perform(const HttpRequest& request) {
  global_init();
  const std::string where = request.method + " " + request.url +
                            (request.unix_socket.empty() ? "" : " via " + request.unix_socket);
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) {
    return make_error(ErrorKind::internal, "curl_easy_init failed", where);
  }
  CURL* c = curl.get();
  HttpResponse response;

  std::unique_ptr<curl_slist, CurlDeleter> list;
  auto add_header = [&](const std::string& line) {
    list.reset(curl_slist_append(list.release(), line.c_str()));
  };
  for (const auto& [k, v] : request.headers) {
    add_header(k + ": " + v);
  }
  // No "Expect: 100-continue" round trip before uploads.
  add_header("Expect:");

  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  if (!request.unix_socket.empty()) {
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, request.unix_socket.c_str());
  }
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  if (request.timeout.count() > 0) {
    curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(request.timeout.count()));
  }
  if (request.idle_timeout.count() > 0) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(request.idle_timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(request.idle_timeout.count()));
  }
  if (!request.username.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, request.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, request.password.c_str());
  }
  if (!request.ca_file.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, request.ca_file.c_str());
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &response.headers);

  std::unique_ptr<std::FILE, CurlDeleter> file;
  std::unique_ptr<curl_mime, CurlDeleter> mime;
  if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (!request.body_file.empty()) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(request.body_file, ec);
    file.reset(ec ? nullptr : std::fopen(request.body_file.c_str(), "rb"));
    if (!file) {
      return make_error(ErrorKind::io, "cannot read the body file " + request.body_file.string(),
                        where);
    }
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, file.get());
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
  } else if (!request.multipart.empty()) {
    mime.reset(curl_mime_init(c));
    for (const auto& part : request.multipart) {
      curl_mimepart* p = curl_mime_addpart(mime.get());
      curl_mime_name(p, part.field.c_str());
      if (curl_mime_filedata(p, part.path.c_str()) != CURLE_OK) {
        return make_error(ErrorKind::io, "cannot read " + part.path.string(), where);
      }
      const std::string filename =
          part.filename.empty() ? part.path.filename().string() : part.filename;
      curl_mime_filename(p, filename.c_str());
      curl_mime_type(p, "application/octet-stream");
    }
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime.get());
  } else if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
             request.method == "PATCH") {
    // A body, possibly empty: sent with its Content-Length.
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  // After the body options, which may set the method themselves (UPLOAD = PUT, MIMEPOST = POST).
  if (request.method != "HEAD") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());

  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    return make_error(ErrorKind::transient, curl_easy_strerror(rc), where);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

std::string url_encode(std::string_view value) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : value) {
    const auto u = static_cast<unsigned char>(ch);
    if (std::isalnum(u) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += ch;
    } else {
      out += '%';
      out += k_hex[u >> 4];
      out += k_hex[u & 15];
    }
  }
  return out;
}

} // namespace softpack
