#include "artifacts/install/install_publisher.hpp"

#include "artifacts/module_files.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

namespace softpack::artifacts {

namespace {

constexpr unsigned k_dir_mode = 0755;
constexpr unsigned k_file_mode = 0644;
constexpr unsigned k_exec_mode = 0755;
constexpr std::size_t k_max_module_bytes = 1 << 20;
constexpr const char* k_image = "singularity.sif";

Error io_error(const fs::path& path, std::string_view what, int err) {
  return make_error(ErrorKind::io, std::string(what) + ": " + std::strerror(err), path.string());
}

Error already_installed(const fs::path& path, const std::string& by) {
  return make_error(ErrorKind::invalid_input,
                    path.string() + " is already installed (" + by + "); remove it to reinstall",
                    "install");
}

// What this attempt created, undone in reverse order unless the attempt succeeds, so that a
// retry starts from what was there before.
class Rollback {
public:
  Rollback() = default;
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;
  ~Rollback() {
    if (m_keep) {
      return;
    }
    for (auto it = m_created.rbegin(); it != m_created.rend(); ++it) {
      std::error_code ec;
      if (it->second) {
        fs::remove_all(it->first, ec);
      } else {
        fs::remove(it->first, ec); // an empty directory only: not one someone filled meanwhile
      }
      if (ec) {
        spdlog::warn("install: cannot remove {} after a failed attempt: {}", it->first.string(),
                     ec.message());
      }
    }
  }
  void created_dir(const fs::path& p) { m_created.emplace_back(p, false); }
  void created_tree(const fs::path& p) { m_created.emplace_back(p, true); }
  void keep() { m_keep = true; }

private:
  std::vector<std::pair<fs::path, bool>> m_created; // path, remove with contents
  bool m_keep = false;
};

// A temporary file or directory of this attempt, removed however the attempt ends.
struct ScopedRemove {
  fs::path path;
  ~ScopedRemove() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Creates the missing directories of `dir` (mode 0755), recording each in `rollback`.
Expected<void> make_parents(const fs::path& dir, Rollback& rollback) {
  std::vector<fs::path> missing;
  for (fs::path p = dir; !p.empty() && p != p.root_path(); p = p.parent_path()) {
    struct stat st;
    if (::stat(p.c_str(), &st) == 0) {
      break;
    }
    if (errno != ENOENT) {
      return io_error(p, "cannot create directory", errno);
    }
    missing.push_back(p);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), k_dir_mode) != 0) {
      if (errno == EEXIST) {
        continue; // made meanwhile by someone else
      }
      return io_error(*it, "cannot create directory", errno);
    }
    rollback.created_dir(*it);
    if (::chmod(it->c_str(), k_dir_mode) != 0) {
      return io_error(*it, "cannot set mode", errno);
    }
  }
  return {};
}

Expected<void> sync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return io_error(dir, "cannot open directory", errno);
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    return io_error(dir, "cannot sync directory", err);
  }
  return {};
}

// Who made the scripts directory: nullopt when there is none; "" when something is there
// without a readable marker (a file, a symlink, an empty or hand-made directory).
Expected<std::optional<std::string>> scripts_owner(const fs::path& scripts) {
  struct stat st;
  if (::lstat(scripts.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return std::optional<std::string>{};
    }
    return io_error(scripts, "cannot inspect", errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    return std::optional<std::string>{""};
  }
  auto marker = read_file_if_exists(scripts / k_install_marker, 4096);
  if (!marker) {
    return marker.error();
  }
  return std::optional<std::string>{marker->has_value() ? std::string(trim(**marker)) : ""};
}

std::string owner_text(const std::string& owner) {
  return owner.empty() ? "not by softpack-builder" : "by build " + owner;
}

struct Entry {
  fs::path source;
  std::string name;
  unsigned mode;
};

// Puts `source` at `target` with `mode`: a hard link when possible (no copy of a big image),
// else a copy made under a temporary name and linked into place, so that `target` never shows
// a partial file. Never replaces `target`.
Expected<void> place_file(const fs::path& source, const fs::path& target, unsigned mode,
                          const std::string& build_id) {
  if (::link(source.c_str(), target.c_str()) == 0) {
    if (::chmod(target.c_str(), mode) == 0) {
      return {};
    }
    ::unlink(target.c_str()); // not ours to change (another owner): copy it instead
  } else if (errno == EEXIST) {
    return io_error(target, "cannot install", EEXIST);
  }
  // EXDEV (another filesystem), EPERM (protected_hardlinks, no hard links), EMLINK, ...
  spdlog::info("install: copying {} to {}", source.string(), target.string());
  ScopedRemove tmp{target.parent_path() / ("." + target.filename().string() + ".tmp-" + build_id)};
  ::unlink(tmp.path.c_str()); // left by an earlier attempt of this build
  if (auto c = copy_to_new_file(source, tmp.path, mode); !c) {
    return c;
  }
  if (::link(tmp.path.c_str(), target.c_str()) != 0) {
    return io_error(target, "cannot install", errno);
  }
  return {};
}

// Makes sure each entry is in `dir`: entries already there (an earlier attempt of this build)
// only get their mode set.
Expected<void> fill(const fs::path& dir, const std::vector<Entry>& entries,
                    const std::string& build_id) {
  for (const auto& e : entries) {
    const auto target = dir / e.name;
    struct stat st;
    if (::lstat(target.c_str(), &st) == 0) {
      if ((st.st_mode & 07777) != e.mode && ::chmod(target.c_str(), e.mode) != 0) {
        return io_error(target, "cannot set mode", errno);
      }
      continue;
    }
    if (errno != ENOENT) {
      return io_error(target, "cannot inspect", errno);
    }
    if (auto p = place_file(e.source, target, e.mode, build_id); !p) {
      return p;
    }
  }
  return {};
}

// The image and the wrappers from out/, image first.
Expected<std::vector<Entry>> install_entries(const fs::path& out_dir) {
  std::vector<Entry> entries;
  const auto image = out_dir / k_image;
  struct stat st;
  if (::stat(image.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return make_error(ErrorKind::io, "artifact is missing", image.string());
  }
  entries.push_back({image, k_image, k_file_mode});
  const auto scripts = out_dir / "scripts";
  std::error_code ec;
  if (!fs::exists(scripts, ec)) {
    return entries; // an environment without executables
  }
  std::vector<Entry> wrappers;
  for (fs::directory_iterator it(scripts, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!it->is_regular_file(ec) || name == k_image || name == k_install_marker) {
      return make_error(ErrorKind::io, "not a wrapper script", it->path().string());
    }
    wrappers.push_back({it->path(), name, k_exec_mode});
  }
  if (ec) {
    return make_error(ErrorKind::io, "cannot list directory: " + ec.message(), scripts.string());
  }
  std::sort(wrappers.begin(), wrappers.end(),
            [](const Entry& a, const Entry& b) { return a.name < b.name; });
  entries.insert(entries.end(), wrappers.begin(), wrappers.end());
  return entries;
}

// The module file's temporary name in its directory, written in full, synced, then linked.
Expected<void> write_new_file(const fs::path& path, std::string_view content, unsigned mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return io_error(path, "cannot create", errno);
  }
  std::size_t done = 0;
  int err = 0;
  while (done < content.size() && err == 0) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
    } else if (errno != EINTR) {
      err = errno;
    }
  }
  if (err == 0 && ::fchmod(fd, mode) != 0) {
    err = errno;
  }
  if (err == 0 && ::fsync(fd) != 0) {
    err = errno;
  }
  if (::close(fd) != 0 && err == 0) {
    err = errno;
  }
  if (err != 0) {
    ::unlink(path.c_str());
    return io_error(path, "cannot write", err);
  }
  return {};
}

// The content of the module file at `path`: nullopt when there is none; "" marks something
// that cannot be ours (not a regular file, or too big).
Expected<std::optional<std::string>> existing_module(const fs::path& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return std::optional<std::string>{}; // creating its directory will report ENOTDIR
    }
    return io_error(path, "cannot inspect", errno);
  }
  if (!S_ISREG(st.st_mode) || static_cast<std::size_t>(st.st_size) > k_max_module_bytes) {
    return std::optional<std::string>{""};
  }
  auto content = read_file(path, k_max_module_bytes);
  if (!content) {
    return content.error();
  }
  return std::optional<std::string>{std::move(*content)};
}

} // namespace

InstallPublisher::InstallPublisher(InstallPublisherOptions options)
    : m_options(std::move(options)) {}

fs::path InstallPublisher::module_file(const spec::EnvironmentSpec& spec) const {
  return m_options.module_dir / spec.path / spec.name / spec.version;
}

fs::path InstallPublisher::scripts_dir(const spec::EnvironmentSpec& spec) const {
  return env_scripts_dir(m_options.scripts_dir, spec);
}

Expected<PublishResult> InstallPublisher::publish(const PublishRequest& request) {
  if (!request.success) {
    return make_error(ErrorKind::invalid_input,
                      "build " + request.build_id + " failed: there is nothing to install",
                      "install");
  }
  // The build id names temporary files and goes into the marker.
  if (request.build_id.empty() || request.build_id.find_first_of("/\n") != std::string::npos ||
      request.build_id[0] == '.') {
    return make_error(ErrorKind::invalid_input,
                      "invalid build id '" + printable(request.build_id) + "'", "install");
  }
  const std::string& id = request.build_id;
  const fs::path module_path = module_file(request.spec);
  const fs::path scripts = scripts_dir(request.spec);

  auto module_text = read_file(request.out_dir / "module", k_max_module_bytes);
  if (!module_text) {
    return module_text.error();
  }
  auto entries = install_entries(request.out_dir);
  if (!entries) {
    return entries.error();
  }

  // Refuse before changing anything when either path holds someone else's install.
  auto owner = scripts_owner(scripts);
  if (!owner) {
    return owner.error();
  }
  if (owner->has_value() && **owner != id) {
    return already_installed(scripts, owner_text(**owner));
  }
  const bool scripts_are_ours = owner->has_value();
  auto module_now = existing_module(module_path);
  if (!module_now) {
    return module_now.error();
  }
  if (module_now->has_value() && (!scripts_are_ours || **module_now != *module_text)) {
    return already_installed(module_path,
                             scripts_are_ours ? "not by build " + id : "not by softpack-builder");
  }

  Rollback rollback;
  if (scripts_are_ours) {
    // An earlier attempt of this build got this far: complete what it left.
    if (auto f = fill(scripts, *entries, id); !f) {
      return f.error();
    }
  } else {
    const fs::path parent = scripts.parent_path();
    if (auto p = make_parents(parent, rollback); !p) {
      return p.error();
    }
    ScopedRemove staging{parent / ("." + scripts.filename().string() + ".tmp-" + id)};
    std::error_code ec;
    fs::remove_all(staging.path, ec); // left by an earlier attempt of this build
    if (::mkdir(staging.path.c_str(), k_dir_mode) != 0) {
      return io_error(staging.path, "cannot create directory", errno);
    }
    if (auto w = write_file_atomic(staging.path / k_install_marker, id + "\n", k_file_mode); !w) {
      return w.error();
    }
    if (auto f = fill(staging.path, *entries, id); !f) {
      return f.error();
    }
    if (::chmod(staging.path.c_str(), k_dir_mode) != 0) {
      return io_error(staging.path, "cannot set mode", errno);
    }
    if (auto s = sync_dir(staging.path); !s) {
      return s.error();
    }
    if (::renameat2(AT_FDCWD, staging.path.c_str(), AT_FDCWD, scripts.c_str(), RENAME_NOREPLACE) ==
        0) {
      rollback.created_tree(scripts);
    } else if (errno == EEXIST || errno == ENOTEMPTY) {
      auto now = scripts_owner(scripts); // made meanwhile
      return now && now->has_value() ? already_installed(scripts, owner_text(**now))
                                     : io_error(scripts, "cannot move into place", EEXIST);
    } else if (errno == EINVAL || errno == ENOSYS) {
      // The filesystem cannot rename without replacing (NFS, Lustre): create the directory
      // exclusively instead, marker first, and link the staged files into it.
      spdlog::info("install: {} does not support renameat2(RENAME_NOREPLACE); filling in place",
                   parent.string());
      if (::mkdir(scripts.c_str(), k_dir_mode) != 0) {
        return errno == EEXIST ? already_installed(scripts, "not by build " + id)
                               : io_error(scripts, "cannot create directory", errno);
      }
      rollback.created_tree(scripts);
      std::vector<Entry> staged{{staging.path / k_install_marker, k_install_marker, k_file_mode}};
      for (const auto& e : *entries) {
        staged.push_back({staging.path / e.name, e.name, e.mode});
      }
      if (::chmod(scripts.c_str(), k_dir_mode) != 0) {
        return io_error(scripts, "cannot set mode", errno);
      }
      if (auto f = fill(scripts, staged, id); !f) {
        return f.error();
      }
    } else {
      return io_error(scripts, "cannot move into place", errno);
    }
    if (auto s = sync_dir(parent); !s) {
      return s.error();
    }
  }

  if (!module_now->has_value()) {
    const fs::path parent = module_path.parent_path();
    if (auto p = make_parents(parent, rollback); !p) {
      return p.error();
    }
    ScopedRemove tmp{parent / ("." + module_path.filename().string() + ".tmp-" + id)};
    ::unlink(tmp.path.c_str()); // left by an earlier attempt of this build
    if (auto w = write_new_file(tmp.path, *module_text, k_file_mode); !w) {
      return w.error();
    }
    // link(2) fails with EEXIST where rename(2) would replace.
    if (::link(tmp.path.c_str(), module_path.c_str()) != 0) {
      const int err = errno;
      if (err != EEXIST) {
        return io_error(module_path, "cannot install", err);
      }
      auto now = existing_module(module_path); // made meanwhile
      if (!now || !now->has_value() || **now != *module_text) {
        return already_installed(module_path, "not by build " + id);
      }
    }
    if (auto s = sync_dir(parent); !s) {
      return s.error();
    }
  }
  rollback.keep();
  return PublishResult{"install " + m_options.module_dir.string(), module_path.string()};
}

} // namespace softpack::artifacts
