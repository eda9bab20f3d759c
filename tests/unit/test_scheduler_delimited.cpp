#include "scheduler/delimited.hpp"

#include <catch2/catch.hpp>

using namespace softpack;
using namespace softpack::scheduler;

TEST_CASE("delimited: records of the expected shape are split", "[scheduler]") {
  SECTION("plain fields") {
    auto r = split_records("1\x1fRUN\x1fx\n\n22\x1f"
                           "DONE\x1f\n",
                           "bjobs", {3}, "3 fields");
    REQUIRE(r);
    REQUIRE(r->size() == 2);
    CHECK((*r)[0] == std::vector<std::string>{"1", "RUN", "x"});
    CHECK((*r)[1] == std::vector<std::string>{"22", "DONE", ""});
  }
  SECTION("terminated fields lose their empty last piece") {
    auto r = split_records("7\x1fR\x1f\n", "squeue", {2, true}, "2 fields ending in \\x1f");
    REQUIRE(r);
    CHECK(r->front() == std::vector<std::string>{"7", "R"});
  }
  SECTION("no output is no records") {
    auto r = split_records("", "squeue", {2, true}, "x");
    REQUIRE(r);
    CHECK(r->empty());
  }
}

TEST_CASE("delimited: any other shape names the command, the line and what was expected",
          "[scheduler]") {
  struct Case {
    std::string out;
    RecordShape shape;
  };
  for (const auto& c : {Case{"1\x1fR\n", {3}}, Case{"x1\x1fR\x1fy\n", {3}},
                        Case{"1\x1fR\x1fy\n", {2, true}}, Case{"ok\n2\x1fR\x1f\n", {2, true}}}) {
    INFO(c.out);
    auto r = split_records(c.out, "squeue", c.shape, "what I asked for");
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::scheduler);
    CHECK(r.error().context == "squeue");
    CHECK_THAT(r.error().message, Catch::StartsWith("unexpected output line 1: '") &&
                                      Catch::EndsWith("(expected what I asked for)"));
  }
  // Control bytes are shown escaped.
  auto e = shape_error("sacct", 4,
                       "a\x1f"
                       "b",
                       "x");
  CHECK(e.message == "unexpected output line 4: 'a\\x1Fb' (expected x)");
}
