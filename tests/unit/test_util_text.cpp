#include "util/text.hpp"
#include "util/yaml.hpp"

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

using namespace softpack;

namespace {

// What /bin/sh makes of `printf %s WORD`: proves that a quoted word expands to exactly itself.
std::string shell_expand(const std::string& word) {
  const std::string command = "printf %s " + word;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  REQUIRE(pipe != nullptr);
  std::string out;
  std::array<char, 256> buf;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe.get())) {
    out.append(buf.data(), n);
  }
  return out;
}

// Strings that must survive every quoting function unchanged.
const std::vector<std::string> k_hostile = {
    "plain",
    "",
    "two words",
    "it's",
    "'",
    "''",
    "\"",
    "$(id)",
    "`id`",
    "${HOME}",
    "$HOME",
    "a;rm -rf /",
    "a && b || c | d",
    "new\nline",
    "tab\there",
    "back\\slash\\",
    "glob*?[a]",
    "~root",
    "-n",
    "!event",
    "{a,b}",
    "#comment",
    "\x01\x1f\x7f",
    "caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80",
};

} // namespace

TEST_CASE("text: sh_quote makes one shell word that expands to the input", "[text]") {
  SECTION("safe words stay readable") {
    CHECK(sh_quote("xxhash@0.8.1") == "xxhash@0.8.1");
    CHECK(sh_quote("users/foo/bar-1") == "users/foo/bar-1");
    CHECK(sh_quote("--flag=value") == "--flag=value");
  }
  SECTION("everything else is single-quoted") {
    CHECK(sh_quote("") == "''");
    CHECK(sh_quote("a b") == "'a b'");
    CHECK(sh_quote("it's") == "'it'\\''s'");
    CHECK(sh_quote("$(id)") == "'$(id)'");
    CHECK(sh_quote("~") == "'~'");
  }
  SECTION("the shell agrees") {
    for (const auto& s : k_hostile) {
      INFO("input: " << printable(s));
      CHECK(shell_expand(sh_quote(s)) == s);
    }
  }
  SECTION("sh_join quotes each word") {
    CHECK(sh_join({"spack", "install", "a b", "$x"}) == "spack install 'a b' '$x'");
    CHECK(sh_join({}) == "");
  }
}

TEST_CASE("text: yaml_quote reads back as the input", "[text][yaml]") {
  CHECK(yaml_quote("x") == "\"x\"");
  CHECK(yaml_quote("a\"b\\c\nd") == "\"a\\\"b\\\\c\\nd\"");
  CHECK(yaml_quote("\x01") == "\"\\x01\"");
  for (const auto& s : k_hostile) {
    INFO("input: " << printable(s));
    auto doc = parse_yaml("key: " + yaml_quote(s) + "\n", "test.yml");
    REQUIRE(doc);
    const YamlNode* value = doc->find("key");
    REQUIRE(value != nullptr);
    CHECK(value->scalar == s);
    CHECK(value->quoted);
  }
}

TEST_CASE("text: tcl_quote leaves nothing for Tcl to substitute", "[text]") {
  CHECK(tcl_quote("plain") == "\"plain\"");
  CHECK(tcl_quote("$env(HOME) [exec id]") == "\"\\$env(HOME) \\[exec id\\]\"");
  CHECK(tcl_quote("{\"}\\") == "\"\\{\\\"\\}\\\\\"");
  CHECK(tcl_quote("a\nb\tc") == "\"a\\nb\\tc\"");
  CHECK(tcl_quote("\x01\x7f") == "\"\\x01\\x7F\"");
}

TEST_CASE("text: line and word helpers", "[text]") {
  SECTION("trim") {
    CHECK(trim("  a b \t\r\n") == "a b");
    CHECK(trim(" \n ") == "");
    CHECK(trim("") == "");
  }
  SECTION("split_lines drops newlines, including CRLF") {
    CHECK(split_lines("a\nb\r\nc") == std::vector<std::string_view>{"a", "b", "c"});
    CHECK(split_lines("a\n") == std::vector<std::string_view>{"a"});
    CHECK(split_lines("\n\n") == std::vector<std::string_view>{"", ""});
    CHECK(split_lines("").empty());
  }
  SECTION("split keeps empty fields") {
    CHECK(split("a,,b,", ',') == std::vector<std::string>{"a", "", "b", ""});
    CHECK(split("", ',') == std::vector<std::string>{""});
  }
  SECTION("join") {
    CHECK(join({"a", "b", "c"}, ", ") == "a, b, c");
    CHECK(join({}, ",") == "");
  }
  SECTION("starts_with") {
    CHECK(starts_with("users/foo", "users/"));
    CHECK_FALSE(starts_with("user", "users/"));
    CHECK(starts_with("x", ""));
  }
  SECTION("tail_lines") {
    CHECK(tail_lines("a\nb\nc\n", 2) == "b\nc\n");
    CHECK(tail_lines("a\nb\nc", 2) == "b\nc");
    CHECK(tail_lines("a\nb", 5) == "a\nb");
    CHECK(tail_lines("a\nb", 0) == "");
    CHECK(tail_lines("", 3) == "");
  }
  SECTION("to_lower only touches ASCII") {
    CHECK(to_lower("MiXeD-1\xc3\x89") == "mixed-1\xc3\x89");
  }
}

TEST_CASE("text: printable shows control and non-ASCII bytes", "[text]") {
  CHECK(printable("ok value") == "ok value");
  CHECK(printable(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(printable("a\nb\x1b[31m") == "a\\x0Ab\\x1B[31m");
  CHECK(printable("\xc3\xa9") == "\\xC3\\xA9");
  SECTION("long values are cut") {
    const std::string out = printable(std::string(1000, 'x'));
    CHECK(out == std::string(80, 'x') + "...");
    CHECK(printable(std::string(80, 'x')) == std::string(80, 'x'));
    CHECK(printable("abcdef", 3) == "abc...");
  }
}
