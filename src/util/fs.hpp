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

} // namespace softpack
