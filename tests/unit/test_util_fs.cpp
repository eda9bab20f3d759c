#include "support/temp_dir.hpp"
#include "util/fs.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>

using namespace softpack;
using softpack::testing::TempDir;

TEST_CASE("fs: copy_to_new_file copies in full with the mode asked for", "[util][fs]") {
  TempDir t;
  // More than one read/write buffer (1 MiB), and not a multiple of it.
  std::string content;
  for (int i = 0; content.size() < (2u << 20) + 3; ++i) {
    content += std::to_string(i) + ",";
  }
  const auto from = t.write("from", content, 0600);
  const mode_t old_umask = ::umask(077);
  auto r = copy_to_new_file(from, t / "to", 0755);
  ::umask(old_umask);
  REQUIRE(r.has_value());
  CHECK(t.read("to") == content);
  struct stat st;
  REQUIRE(::stat((t / "to").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
}

TEST_CASE("fs: copy_to_new_file never replaces and cleans up after itself", "[util][fs]") {
  TempDir t;
  const auto from = t.write("from", "new");
  SECTION("an existing target is an error and stays as it was") {
    t.write("to", "old");
    auto r = copy_to_new_file(from, t / "to", 0644);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ErrorKind::io);
    CHECK_THAT(r.error().describe(), Catch::Contains("File exists"));
    CHECK(t.read("to") == "old");
  }
  SECTION("a missing source names it and leaves no target") {
    auto r = copy_to_new_file(t / "missing", t / "to", 0644);
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().describe(), Catch::Contains("missing"));
    CHECK_FALSE(std::filesystem::exists(t / "to"));
  }
  SECTION("a directory as the source fails and leaves no target") {
    std::filesystem::create_directories(t / "dir");
    auto r = copy_to_new_file(t / "dir", t / "to", 0644);
    REQUIRE_FALSE(r.has_value());
    CHECK_FALSE(std::filesystem::exists(t / "to"));
  }
}
