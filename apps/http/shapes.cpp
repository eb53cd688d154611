// Gorse's user, item and feedback objects, read and written (see shapes.hpp).
#include "apps/http/shapes.hpp"

#include <fmt/format.h>

namespace rtrec::http {

using nlohmann::json;

bool parse_user(const json& x, const std::string& where, bool id_required,
                const input_limits& limits, std::string& id, engine::user_patch& p,
                input_error& err) {
  auto fail = [&](const std::string& field, const std::string& why) {
    err = {400, fmt::format("{}.{}: {}", where, field, why)};
    return false;
  };
  if (!x.is_object())
    return err = {400, where + ": expected a JSON object"}, false;
  if (id_required) {
    auto it = x.find("UserId");
    if (it == x.end() || !it->is_string())
      return fail("UserId", "expected a string");
    id = it->get<std::string>();
    if (auto problem = id_problem(id, limits.ids.max_id_length))
      return fail("UserId", *problem);
  }
  if (auto it = x.find("Labels"); it != x.end()) {
    p.set_labels = true;
    p.labels = it->is_null() ? std::string{} : it->dump();
  }
  if (auto it = x.find("Comment"); it != x.end()) {
    if (!it->is_string() && !it->is_null())
      return fail("Comment", "expected a string");
    p.set_comment = true;
    p.comment = it->is_null() ? std::string{} : it->get<std::string>();
  }
  if (auto it = x.find("Subscribe"); it != x.end()) {
    if (!it->is_array() && !it->is_null())
      return fail("Subscribe", "expected an array of strings");
    p.set_subscribe = true;
    for (std::size_t k = 0; it->is_array() && k < it->size(); ++k) {
      if (!(*it)[k].is_string())
        return fail(fmt::format("Subscribe[{}]", k), "expected a string");
      p.subscribe.push_back((*it)[k].get<std::string>());
    }
  }
  if (auto why = p.check(); !why.empty())
    return err = {400, where + "." + why}, false;
  return true;
}

json user_json(const engine::user_record& u) {
  json labels = nullptr;
  if (!u.meta.labels.empty())
    labels = json::parse(u.meta.labels, nullptr, false);
  json subscribe = nullptr;
  if (!u.meta.subscribe.empty())
    subscribe = u.meta.subscribe;
  return json{{"UserId", u.id},
              {"Labels", std::move(labels)},
              {"Comment", u.meta.comment},
              {"Subscribe", std::move(subscribe)}};
}

json item_json(const engine::item_meta& m) {
  json labels;  // null
  if (!m.labels.empty()) {
    labels = json::parse(m.labels, nullptr, false);
    if (labels.is_discarded())  // never stored so; answered as text rather than lost
      labels = m.labels;
  }
  std::string ts = m.timestamp_text;
  if (ts.empty() && m.timestamp > 0)
    ts = format_timestamp(m.timestamp);
  return json{{"ItemId", m.id},       {"IsHidden", m.hidden}, {"Categories", m.categories},
              {"Timestamp", ts},      {"Labels", std::move(labels)},
              {"Comment", m.comment}};
}

json feedback_json(const engine::feedback_record& r) {
  return json{{"FeedbackType", engine::to_string(r.type)},
              {"UserId", r.user},
              {"ItemId", r.item},
              {"Value", r.value},
              {"Timestamp", r.timestamp_text.empty() ? format_timestamp(r.timestamp)
                                                     : r.timestamp_text},
              {"Comment", r.comment}};
}

}  // namespace rtrec::http
