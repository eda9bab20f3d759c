#pragma once

// Helpers for .cpp files that parse JSON with Boost.JSON (include only from .cpp files, so
// Boost.JSON stays out of the interfaces).

#include <string_view>

#include <boost/json/value.hpp>

namespace softpack {

// "null", "boolean", "number", "string", "array" or "object", for "expected X, got Y" errors.
inline std::string_view json_kind_name(const boost::json::value& v) {
  switch (v.kind()) {
  case boost::json::kind::null:
    return "null";
  case boost::json::kind::bool_:
    return "boolean";
  case boost::json::kind::int64:
  case boost::json::kind::uint64:
  case boost::json::kind::double_:
    return "number";
  case boost::json::kind::string:
    return "string";
  case boost::json::kind::array:
    return "array";
  case boost::json::kind::object:
    return "object";
  }
  return "value";
}

} // namespace softpack
