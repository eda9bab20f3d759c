#pragma once

// A temporary directory for one test, removed with everything in it when the object goes out of
// scope. Not copyable or movable: the object is the directory's owner.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <system_error>

namespace softpack::testing {

class TempDir {
public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "softpack-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed for " + pattern);
    }
    m_path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return m_path; }
  std::filesystem::path operator/(const std::filesystem::path& rel) const { return m_path / rel; }

  // Writes `text` to <dir>/<rel> (creating parent directories) with `mode`; returns the path.
  std::filesystem::path write(const std::filesystem::path& rel, std::string_view text,
                              unsigned mode = 0644) const {
    const auto p = m_path / rel;
    std::filesystem::create_directories(p.parent_path());
    {
      std::ofstream out(p, std::ios::binary | std::ios::trunc);
      out.write(text.data(), static_cast<std::streamsize>(text.size()));
      if (!out) {
        throw std::runtime_error("cannot write " + p.string());
      }
    }
    ::chmod(p.c_str(), mode);
    return p;
  }

  // The content of <dir>/<rel>, or "" when it does not exist.
  std::string read(const std::filesystem::path& rel) const {
    std::ifstream in(m_path / rel, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

private:
  std::filesystem::path m_path;
};

} // namespace softpack::testing
