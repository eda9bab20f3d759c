#include "cli/answers.hpp"

#include "util/text.hpp"

#include <cstdint>
#include <limits>

#include <boost/json.hpp>

namespace softpack::cli {

namespace json = boost::json;

namespace {

Error bad_answer(std::string_view what, std::string_view body) {
  return make_error(ErrorKind::internal, "unexpected answer from the service (" +
                                             std::string(what) + "): " + printable(body, 200));
}

Expected<json::value> parse_json(std::string_view body) {
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec) {
    return bad_answer("not JSON", body);
  }
  return doc;
}

Expected<json::object> parse_object(std::string_view body) {
  auto doc = parse_json(body);
  if (!doc || !doc->is_object()) {
    return bad_answer("not a JSON object", body);
  }
  return std::move(doc->get_object());
}

// The string at `key`, or nullopt when absent or not a string.
std::optional<std::string> string_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string()) {
    return std::nullopt;
  }
  return std::string(v->get_string());
}

std::optional<int> int_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_int64()) {
    return std::nullopt;
  }
  return static_cast<int>(v->get_int64());
}

auth::Requester requester_from(const json::value* v) {
  const json::object* o = v != nullptr ? v->if_object() : nullptr;
  if (!o) {
    return {};
  }
  auto kind_text = string_at(*o, "kind");
  auto kind = kind_text ? auth::parse_kind(*kind_text) : std::nullopt;
  if (!kind || *kind == auth::Requester::Kind::none) {
    return {};
  }
  auth::Requester who;
  who.kind = *kind;
  who.name = string_at(*o, "name").value_or("");
  if (const json::value* uid = o->if_contains("uid")) {
    if (uid->is_int64() && uid->get_int64() >= 0 &&
        uid->get_int64() <= std::numeric_limits<std::uint32_t>::max()) {
      who.uid = static_cast<std::uint32_t>(uid->get_int64());
    } else if (uid->is_uint64() && uid->get_uint64() <= std::numeric_limits<std::uint32_t>::max()) {
      who.uid = static_cast<std::uint32_t>(uid->get_uint64());
    }
  }
  return who;
}

// One build object; `body` is the whole answer, for error messages.
Expected<BuildView> build_from(const json::object& o, std::string_view body) {
  BuildView b;
  auto state = string_at(o, "state");
  if (!state) {
    return bad_answer("no state", body);
  }
  b.state = std::move(*state);
  b.id = string_at(o, "id").value_or("");
  b.name = string_at(o, "name").value_or("");
  b.error = string_at(o, "error").value_or("");
  b.requested = string_at(o, "requested").value_or("");
  b.started = string_at(o, "started").value_or("");
  b.done = string_at(o, "done").value_or("");
  b.published = string_at(o, "published").value_or("");
  b.requested_by = requester_from(o.if_contains("requested_by"));
  b.queue_reason = string_at(o, "queue_reason").value_or("");
  const json::value* stages = o.if_contains("stages");
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
    BuildView::Stage s;
    s.name = std::move(*name);
    s.state = std::move(*stage_state);
    s.job_id = string_at(*so, "job_id");
    s.reason = string_at(*so, "reason").value_or("");
    s.exit_code = int_at(*so, "exit_code");
    s.started = string_at(*so, "started").value_or("");
    s.ended = string_at(*so, "ended").value_or("");
    s.log_tail = string_at(*so, "log_tail").value_or("");
    b.stages.push_back(std::move(s));
  }
  if (const json::value* ds = o.if_contains("destinations"); ds && ds->is_array()) {
    for (const auto& d : ds->get_array()) {
      const json::object* dobj = d.if_object();
      if (!dobj) {
        return bad_answer("a destination is not an object", body);
      }
      BuildView::Destination dest;
      dest.name = string_at(*dobj, "name").value_or("");
      dest.state = string_at(*dobj, "state").value_or("");
      dest.attempts = int_at(*dobj, "attempts").value_or(0);
      dest.error = string_at(*dobj, "error").value_or("");
      dest.reference = string_at(*dobj, "reference").value_or("");
      dest.next_attempt = string_at(*dobj, "next_attempt").value_or("");
      b.destinations.push_back(std::move(dest));
    }
  }
  return b;
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
  a.requested_by = requester_from(o->if_contains("requested_by"));
  a.queue_reason = string_at(*o, "queue_reason").value_or("");
  return a;
}

Expected<BuildView> parse_build_view(std::string_view body) {
  auto o = parse_object(body);
  if (!o) {
    return o.error();
  }
  return build_from(*o, body);
}

Expected<std::vector<BuildView>> parse_build_list(std::string_view body) {
  auto doc = parse_json(body);
  if (!doc || !doc->is_array()) {
    return bad_answer("not a JSON array", body);
  }
  std::vector<BuildView> builds;
  for (const auto& item : doc->get_array()) {
    const json::object* o = item.if_object();
    if (!o) {
      return bad_answer("a build is not an object", body);
    }
    auto b = build_from(*o, body);
    if (!b) {
      return b.error();
    }
    builds.push_back(std::move(*b));
  }
  return builds;
}

std::string refusal_reason(std::string_view body) {
  auto o = parse_object(body);
  if (o) {
    if (auto e = string_at(*o, "error"); e && !e->empty()) {
      return printable(*e, 500);
    }
  }
  return printable(trim(body), 200);
}

} // namespace softpack::cli
