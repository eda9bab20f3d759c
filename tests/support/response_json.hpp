#pragma once

// Reading the handler's answers in tests: the JSON body, and an error's status and message.

#include "server/api.hpp"

#include <string>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

namespace softpack::testing {

inline boost::json::object body_of(const server::Response& r) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(r.payload(), ec);
  INFO(r.payload());
  REQUIRE_FALSE(ec);
  REQUIRE(v.is_object());
  return v.get_object();
}

// An error answer: the status, and a JSON body {"error": "..."} whose message is returned.
inline std::string error_of(const server::Response& r, int status) {
  INFO(r.payload());
  CHECK(r.status == status);
  CHECK(r.content_type == "application/json");
  const boost::json::object body = body_of(r);
  REQUIRE(body.contains("error"));
  REQUIRE(body.at("error").is_string());
  return std::string(body.at("error").get_string());
}

} // namespace softpack::testing
