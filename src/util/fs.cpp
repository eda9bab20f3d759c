#include "util/fs.hpp"

#include "util/text.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace softpack {

namespace {
Error io_error(const fs::path& path, std::string_view what, int err) {
  return make_error(ErrorKind::io, std::string(what) + ": " + std::strerror(err), path.string());
}

// Writes all of `data` to `fd`, retrying after signals; false (errno set) on an error.
bool write_all(int fd, std::string_view data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}
} // namespace

Expected<std::optional<std::string>> read_file_if_exists(const fs::path& path,
                                                         std::size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return std::optional<std::string>{};
    }
    return io_error(path, "cannot open", errno);
  }
  std::string content;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      const int err = errno;
      ::close(fd);
      return io_error(path, "cannot read", err);
    }
    if (n == 0) {
      break;
    }
    content.append(buf, static_cast<std::size_t>(n));
    if (content.size() > max_bytes) {
      ::close(fd);
      return make_error(ErrorKind::io,
                        "file is larger than " + std::to_string(max_bytes) + " bytes",
                        path.string());
    }
  }
  ::close(fd);
  return std::optional<std::string>(std::move(content));
}

Expected<std::string> read_file(const fs::path& path, std::size_t max_bytes) {
  auto r = read_file_if_exists(path, max_bytes);
  if (!r) {
    return r.error();
  }
  if (!r->has_value()) {
    return io_error(path, "cannot open", ENOENT);
  }
  return std::move(**r);
}

std::string read_tail(const fs::path& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return {};
  }
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(in.tellg());
  const auto start = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(start));
  std::string out(size - start, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

Expected<void> append_file(const fs::path& path, std::string_view content) {
  if (auto d = make_directories(path.parent_path()); !d) {
    return d;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return io_error(path, "cannot open", errno);
  }
  if (!write_all(fd, content)) {
    const int err = errno;
    ::close(fd);
    return io_error(path, "cannot write", err);
  }
  ::close(fd);
  return {};
}

Expected<void> make_directories(const fs::path& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) {
    return make_error(ErrorKind::io, "cannot create directory: " + ec.message(), path.string());
  }
  return {};
}

Expected<void> write_file_atomic(const fs::path& path, std::string_view content, unsigned mode) {
  if (path.has_parent_path()) {
    if (auto r = make_directories(path.parent_path()); !r) {
      return r;
    }
  }
  std::string tmpl = path.string() + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) {
    return io_error(path, "cannot create temporary file", errno);
  }
  auto fail = [&](std::string_view what) -> Expected<void> {
    const int err = errno;
    ::close(fd);
    ::unlink(tmpl.c_str());
    return io_error(path, what, err);
  };
  if (!write_all(fd, content)) {
    return fail("cannot write");
  }
  if (::fchmod(fd, mode) != 0) {
    return fail("cannot set mode");
  }
  if (::fsync(fd) != 0) {
    return fail("cannot sync");
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmpl.c_str());
    return io_error(path, "cannot close", err);
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmpl.c_str());
    return io_error(path, "cannot rename into place", err);
  }
  return {};
}

namespace {
// Plain read/write for when copy_file_range cannot be used (old kernels, some filesystems).
bool copy_by_read_write(int in, int out) {
  std::vector<char> buf(1 << 20);
  while (true) {
    const ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return n == 0;
    }
    if (!write_all(out, std::string_view(buf.data(), static_cast<std::size_t>(n)))) {
      return false;
    }
  }
}
} // namespace

Expected<void> copy_to_new_file(const fs::path& from, const fs::path& to, unsigned mode) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    return io_error(from, "cannot open", errno);
  }
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    const int err = errno;
    ::close(in);
    return io_error(to, "cannot create", err);
  }
  auto fail = [&](std::string_view what, int err) -> Expected<void> {
    ::close(in);
    ::close(out);
    ::unlink(to.c_str());
    return io_error(to, what, err);
  };
  // copy_file_range lets the kernel (or the file server) copy without a trip through user
  // space; where it cannot (older kernels across filesystems, some filesystems) it fails with
  // EXDEV, ENOSYS, EINVAL or EOPNOTSUPP before copying anything.
  bool copied_any = false;
  while (true) {
    const ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
    if (n > 0) {
      copied_any = true;
      continue;
    }
    if (n == 0) {
      break;
    }
    const int err = errno;
    if (err == EINTR) {
      continue;
    }
    if (!copied_any && (err == EXDEV || err == ENOSYS || err == EINVAL || err == EOPNOTSUPP)) {
      if (!copy_by_read_write(in, out)) {
        const int rw_err = errno;
        return fail("cannot copy from " + from.string(), rw_err);
      }
      break;
    }
    return fail("cannot copy from " + from.string(), err);
  }
  if (::fchmod(out, mode) != 0) {
    const int err = errno;
    return fail("cannot set mode", err);
  }
  if (::fsync(out) != 0) {
    const int err = errno;
    return fail("cannot sync", err);
  }
  ::close(in);
  if (::close(out) != 0) {
    const int err = errno;
    ::unlink(to.c_str());
    return io_error(to, "cannot close", err);
  }
  return {};
}

Expected<std::string> read_secret(const char* env_var, const std::string& file) {
  if (const char* v = std::getenv(env_var); v && *v) {
    return std::string(v);
  }
  if (file.empty()) {
    return std::string();
  }
  return read_secret_file(file);
}

Expected<std::string> read_secret_file(const std::string& file) {
  auto text = read_file(file, 64 * 1024);
  if (!text) {
    Error e = text.error();
    e.kind = ErrorKind::config;
    return e;
  }
  std::string secret(trim(text->substr(0, text->find('\n'))));
  if (secret.empty()) {
    return make_error(ErrorKind::config, "the secret file is empty", file);
  }
  return secret;
}

} // namespace softpack
