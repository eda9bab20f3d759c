#include "render/template.hpp"
#include "support/temp_dir.hpp"
#include "util/text.hpp"
#include "util/yaml.hpp"

#include <array>
#include <cstdio>
#include <sys/wait.h>

#include <catch2/catch.hpp>

using namespace softpack;
using render::Escape;
using render::List;
using render::Map;
using testing::TempDir;

namespace {

// Values that break naive quoting in shell, YAML or Tcl.
const std::vector<std::string>& hostile_values() {
  static const std::vector<std::string> values{
      "plain",
      "",
      "it's",
      "a \"quoted\" word",
      "$(touch pwned) `touch pwned` ${HOME} $HOME",
      "semi; colon && and || or | pipe > redirect < in & background",
      "new\nline\r\nand\ttab",
      "back\\slash \\' \\\" \\n",
      "glob * ? [a-z] ~ ~root",
      "-n",
      "  leading and trailing spaces  ",
      "# not a comment",
      "key: value, [flow], {map}, &anchor *alias !tag %directive @at",
      "null",
      "true",
      "~",
      "0x1F",
      "unicode: caf\xc3\xa9 \xe2\x9c\x93",
      "tcl [exec touch pwned] $::env(HOME) {brace} }unbalanced{ \"",
      "'''",
      "trailing newline\n",
  };
  return values;
}

struct RunResult {
  int status = -1;
  std::string out;
};

// Runs `program <file with text>` and returns its stdout.
RunResult run_on_file(const TempDir& dir, const std::string& program, const std::string& text) {
  const auto path = dir.write("script", text);
  RunResult r;
  FILE* p = ::popen((program + " '" + path.string() + "'").c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
    r.out.append(buf.data(), n);
  }
  r.status = ::pclose(p);
  return r;
}

std::string render_ok(std::string_view text, const render::Value& data, Escape escape) {
  auto r = render::render(text, data, escape, "test.mustache");
  REQUIRE(r.has_value());
  return *r;
}

} // namespace

TEST_CASE("render: the escape is chosen by the template's name", "[render]") {
  CHECK(render::escape_for("job.sh.mustache") == Escape::shell);
  CHECK(render::escape_for("wrapper.sh.mustache") == Escape::shell);
  CHECK(render::escape_for("spack.yaml.mustache") == Escape::yaml);
  CHECK(render::escape_for("softpack.yml.mustache") == Escape::yaml);
  CHECK(render::escape_for("module.tcl.mustache") == Escape::tcl);
  CHECK(render::escape_for("README.md.mustache") == Escape::none);
  // A definition file's %post and other sections are shell scripts.
  CHECK(render::escape_for("singularity.def.mustache") == Escape::shell);
}

TEST_CASE("render: shell escaping round-trips through bash", "[render]") {
  TempDir dir;
  // One script prints every value followed by a NUL, so one bash run checks them all.
  std::string script = "cd \"$(dirname \"$0\")\"\n";
  for (const auto& x : hostile_values()) {
    script += render_ok("printf '%s\\0' {{x}}\n", Map{{"x", x}}, Escape::shell);
  }
  const RunResult r = run_on_file(dir, "bash", script);
  INFO(script);
  CHECK(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 0);
  const auto outputs = split(r.out, '\0');
  REQUIRE(outputs.size() == hostile_values().size() + 1);
  for (std::size_t i = 0; i < hostile_values().size(); ++i) {
    CHECK(outputs[i] == hostile_values()[i]);
  }
  CHECK_FALSE(std::filesystem::exists(dir / "pwned"));
}

TEST_CASE("render: YAML escaping reads back as the same string", "[render]") {
  for (const auto& x : hostile_values()) {
    INFO("value: " << x);
    const std::string text =
        render_ok("top:\n  value: {{x}}\n  list:\n  - {{x}}\n", Map{{"x", x}}, Escape::yaml);
    auto doc = parse_yaml(text, "test.yaml");
    REQUIRE(doc.has_value());
    const YamlNode* top = doc->find("top");
    REQUIRE(top != nullptr);
    const YamlNode* value = top->find("value");
    REQUIRE(value != nullptr);
    CHECK(value->is_scalar());
    CHECK(value->quoted); // so "null", "true" and "~" stay strings
    CHECK(value->scalar == x);
    const YamlNode* list = top->find("list");
    REQUIRE(list != nullptr);
    REQUIRE(list->items.size() == 1);
    CHECK(list->items[0].scalar == x);
  }
}

TEST_CASE("render: Tcl escaping substitutes nothing", "[render]") {
  TempDir dir;
  if (std::system("command -v tclsh >/dev/null 2>&1") != 0) {
    WARN("tclsh not installed: checking the text only");
    for (const auto& x : hostile_values()) {
      const std::string out = render_ok("{{x}}", Map{{"x", x}}, Escape::tcl);
      CHECK(out.front() == '"');
      CHECK(out.back() == '"');
    }
    return;
  }
  std::string script = "cd [file dirname [info script]]\n";
  for (const auto& x : hostile_values()) {
    script +=
        render_ok("puts -nonewline {{x}}\nputs -nonewline \"\\0\"\n", Map{{"x", x}}, Escape::tcl);
  }
  const RunResult r = run_on_file(dir, "tclsh", script);
  INFO(script);
  CHECK(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 0);
  const auto outputs = split(r.out, '\0');
  REQUIRE(outputs.size() == hostile_values().size() + 1);
  for (std::size_t i = 0; i < hostile_values().size(); ++i) {
    CHECK(outputs[i] == hostile_values()[i]);
  }
  CHECK_FALSE(std::filesystem::exists(dir / "pwned"));
}

TEST_CASE("render: an undefined variable is an error naming the template and line", "[render]") {
  const Map data{{"name", "x"}, {"items", List{Map{{"label", "a"}}}}};
  SECTION("a plain variable") {
    auto r = render::render("first line\nsecond\nhello {{nmae}}\n", data, Escape::none,
                            "greeting.txt.mustache");
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().describe(), Catch::Contains("greeting.txt.mustache:3"));
    CHECK_THAT(r.error().describe(), Catch::Contains("nmae"));
  }
  SECTION("a triple mustache") {
    auto r = render::render("{{{body}}}", data, Escape::shell, "job.sh.mustache");
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().describe(), Catch::Contains("job.sh.mustache:1"));
    CHECK_THAT(r.error().describe(), Catch::Contains("body"));
  }
  SECTION("a section name") {
    auto r = render::render("a\n{{#itmes}}{{label}}{{/itmes}}\n", data, Escape::none, "t.mustache");
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().describe(), Catch::Contains("t.mustache:2"));
    CHECK_THAT(r.error().describe(), Catch::Contains("itmes"));
  }
  SECTION("a template syntax error names the template") {
    auto r = render::render("{{#items}}unclosed", data, Escape::none, "broken.mustache");
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().describe(), Catch::Contains("broken.mustache"));
  }
  SECTION("a missing template file") {
    TempDir dir;
    render::TemplateSet set(dir.path());
    auto r = set.render("nope.sh.mustache", data);
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().describe(), Catch::Contains("nope.sh.mustache"));
  }
}

TEST_CASE("render: triple mustache is verbatim, double is escaped", "[render]") {
  const Map data{{"x", "a'b $c\n\"d\""}};
  CHECK(render_ok("{{{x}}}", data, Escape::shell) == "a'b $c\n\"d\"");
  CHECK(render_ok("{{&x}}", data, Escape::shell) == "a'b $c\n\"d\"");
  CHECK(render_ok("{{x}}", data, Escape::shell) == "'a'\\''b $c\n\"d\"'");
  CHECK(render_ok("{{x}}", data, Escape::none) == "a'b $c\n\"d\"");
  CHECK(render_ok("{{x}}", Map{{"x", "<&>"}}, Escape::none) == "<&>"); // no HTML escaping
}

TEST_CASE("render: sections over lists and booleans", "[render]") {
  const Map data{
      {"items", List{Map{{"name", "a"}}, Map{{"name", "b c"}}}},
      {"none", List{}},
      {"yes", true},
      {"no", false},
      {"outer", "O"},
  };
  CHECK(render_ok("{{#items}}[{{name}}]{{/items}}", data, Escape::none) == "[a][b c]");
  CHECK(render_ok("{{#items}}{{name}} {{/items}}", data, Escape::shell) == "a 'b c' ");
  CHECK(render_ok("{{#none}}x{{/none}}{{^none}}empty{{/none}}", data, Escape::none) == "empty");
  CHECK(render_ok("{{#yes}}Y{{outer}}{{/yes}}{{#no}}N{{/no}}{{^no}}n{{/no}}", data, Escape::none) ==
        "YOn");
  CHECK(render_ok("{{#items}}{{outer}}{{/items}}", data, Escape::none) == "OO"); // parent scope
  CHECK(render_ok("{{! a comment }}ok", data, Escape::none) == "ok");
}

TEST_CASE("render: a TemplateSet renders files by name with their escape", "[render]") {
  TempDir dir;
  dir.write("x.sh.mustache", "echo {{v}}\n");
  dir.write("x.yaml.mustache", "v: {{v}}\n");
  render::TemplateSet set(dir.path());
  const Map data{{"v", "a b"}};
  auto sh = set.render("x.sh.mustache", data);
  REQUIRE(sh.has_value());
  CHECK(*sh == "echo 'a b'\n");
  auto yaml = set.render("x.yaml.mustache", data);
  REQUIRE(yaml.has_value());
  CHECK(*yaml == "v: \"a b\"\n");
}
