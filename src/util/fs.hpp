#pragma once

// File helpers that report failures as Expected values naming the path and the errno text.

#include "util/error.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace softpack {

namespace fs = std::filesystem;

// The whole file; refuses files larger than max_bytes.
Expected<std::string> read_file(const fs::path& path, std::size_t max_bytes = 64 << 20);
// The file, or nullopt when it does not exist (other errors are errors).
Expected<std::optional<std::string>> read_file_if_exists(const fs::path& path,
                                                         std::size_t max_bytes = 64 << 20);
// The last max_bytes of a file ("" when missing): for log tails.
std::string read_tail(const fs::path& path, std::size_t max_bytes);
// Writes via a temporary file in the same directory, fsync and rename, so readers see the old or
// the new content, never a mix. Creates parent directories. `mode` applies to the new file.
Expected<void> write_file_atomic(const fs::path& path, std::string_view content,
                                 unsigned mode = 0644);
Expected<void> make_directories(const fs::path& path);
// Appends `content` to the file (created 0644 when missing, with its parent directories).
Expected<void> append_file(const fs::path& path, std::string_view content);
// Copies `from` to the new file `to` in bounded memory (copy_file_range, else read/write; fit
// for images of many GB), with `mode` whatever the umask, and syncs it. Never replaces: an
// existing `to` is an error (errno EEXIST). On failure a partly written `to` is removed.
Expected<void> copy_to_new_file(const fs::path& from, const fs::path& to, unsigned mode);

// A secret: the environment variable when set, else the first line of the file (when a file
// is named), else empty. Errors (ErrorKind::config) name the file, never the secret.
Expected<std::string> read_secret(const char* env_var, const std::string& file);
// The first line of `file`, trimmed; a file that cannot be read, or whose first line is empty, is
// an error (ErrorKind::config) naming the file.
Expected<std::string> read_secret_file(const std::string& file);

} // namespace softpack
