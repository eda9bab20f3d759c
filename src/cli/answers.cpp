#include "cli/answers.hpp"

#include "util/text.hpp"

#include <boost/json.hpp>

namespace softpack::cli {

namespace json = boost::json;

namespace {

Error bad_answer(std::string_view what, std::string_view body) {
  return make_error(ErrorKind::internal, "unexpected answer from the service (" +
                                             std::string(what) + "): " + printable(body, 200));
}

Expected<json::object> parse_object(std::string_view body) {
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) {
    return bad_answer("not a JSON object", body);
  }
  return std::move(doc.get_object());
}

// The string at `key`, or nullopt when absent or not a string.
std::optional<std::string> string_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string()) {
    return std::nullopt;
  }
  return std::string(v->get_string());
}

} // namespace

bool BuildView::ended() const {
  return state == "published" || state == "failed" || state == "cancelled";
}

Expected<SubmitAnswer> parse_submit_answer(std::string_view body) {
  auto o = parse_object(body);
  if (!o) {
    return o.error();
  }
  SubmitAnswer a;
  auto id = string_at(*o, "id");
  if (!id || id->empty()) {
    return bad_answer("no build id", body);
  }
  a.id = std::move(*id);
  if (const json::value* e = o->if_contains("existing"); e && e->is_bool()) {
    a.existing = e->get_bool();
  }
  return a;
}

Expected<BuildView> parse_build_view(std::string_view body) {
  auto o = parse_object(body);
  if (!o) {
    return o.error();
  }
  BuildView b;
  auto state = string_at(*o, "state");
  if (!state) {
    return bad_answer("no state", body);
  }
  b.state = std::move(*state);
  b.error = string_at(*o, "error").value_or("");
  const json::value* stages = o->if_contains("stages");
  if (!stages || !stages->is_array()) {
    return bad_answer("no stages", body);
  }
  for (const auto& st : stages->get_array()) {
    const json::object* so = st.if_object();
    if (!so) {
      return bad_answer("a stage is not an object", body);
    }
    auto name = string_at(*so, "name");
    auto stage_state = string_at(*so, "state");
    if (!name || !stage_state) {
      return bad_answer("a stage without a name or state", body);
    }
    b.stages.push_back({std::move(*name), std::move(*stage_state), string_at(*so, "job_id")});
  }
  return b;
}

} // namespace softpack::cli
