// The users routes of the HTTP API, in Gorse's shapes:
//
//   POST   /api/user            {"UserId","Labels","Comment","Subscribe"} -> {"RowAffected": 1}
//   POST   /api/users           [user, ...]                               -> {"RowAffected": n}
//   GET    /api/users?cursor=&n= -> {"Cursor": "...", "Users": [user, ...]} ("" = last page)
//   GET    /api/user/{id}       -> user, plus rtrec's "Recent" interactions; 404 if unknown
//   PATCH  /api/user/{id}       {"Labels"?, "Comment"?, "Subscribe"?}  -> {"RowAffected": 1}
//   DELETE /api/user/{id}       -> {"RowAffected": 1 or 0}
//
// Labels is any JSON value (Gorse v0.5), kept as given; Comment a string;
// Subscribe an array of strings. Unset fields read back as null (Labels,
// Subscribe) or "" (Comment), as Gorse does.
#include <fmt/format.h>

#include "apps/http/api.hpp"
#include "apps/http/api_call.hpp"
#include "apps/http/shapes.hpp"

namespace rtrec::http {

using nlohmann::json;


void api::user_post(const call_ptr& c, path_args) {
  user_write(c, false);
}

void api::users_post(const call_ptr& c, path_args) {
  user_write(c, true);
}

void api::user_write(const call_ptr& c, bool many) {
  auto body = json_body(c);
  if (!body)
    return;
  if (many && !body->is_array())
    return c->finish(error(400, "body: expected a JSON array of user objects"));
  if (many && body->size() > opts_.limits.max_array)
    return c->finish(
      error(413, fmt::format("body: at most {} users per request", opts_.limits.max_array)));
  std::vector<std::pair<std::string, engine::user_patch>> users;
  const std::size_t count = many ? body->size() : 1;
  for (std::size_t k = 0; k < count; ++k) {
    users.emplace_back();
    input_error err;
    if (!parse_user(many ? (*body)[k] : *body, many ? fmt::format("[{}]", k) : "body",
                           true, opts_.limits, users.back().first, users.back().second, err))
      return c->finish(error(err.status, err.message));
  }
  blocking_([this, c, users = std::move(users)] {
    std::size_t written = 0;
    for (const auto& [id, patch] : users) {
      auto r = engine_.put_user(id, patch);
      if (!r) {
        auto res = engine_error(r.error());
        if (written > 0)
          res = error(res.status, fmt::format("user {}: {}; {} earlier users were written", id,
                                              r.error().to_string(), written));
        return c->finish(std::move(res));
      }
      ++written;
    }
    c->finish(ok(json{{"RowAffected", written}}));
  });
}

void api::users_list(const call_ptr& c, path_args) {
  auto n = c->count("n", 100, max_results);
  if (!n)
    return;
  if (*n == 0)
    return c->finish(error(400, "query parameter n: must be at least 1"));
  blocking_([this, c, n = *n, cursor = c->cursor()] {
    auto r = engine_.list_users(cursor, n);
    if (!r)
      return c->finish(engine_error(r.error()));
    json users = json::array();
    for (const auto& u : r->users)
      users.push_back(user_json(u));
    c->finish(ok(json{{"Cursor", r->cursor}, {"Users", std::move(users)}}));
  });
}

void api::user_read(const call_ptr& c, path_args a) {
  blocking_([this, c, id = std::move(a.id)] {
    auto u = engine_.user(id);
    if (!u)
      return c->finish(engine_error(u.error()));
    if (!u->known)
      return c->finish(error(404, "unknown user " + id));
    auto r = engine_.user_recent(id);
    if (!r)
      return c->finish(engine_error(r.error()));
    json recent = json::array();
    for (const auto& x : *r)
      recent.push_back({{"ItemId", x.item},
                        {"FeedbackType", engine::to_string(x.type)},
                        {"Weight", x.weight},
                        {"Timestamp", format_timestamp(x.timestamp)}});
    auto out = user_json(*u);
    out["Recent"] = std::move(recent);
    c->finish(ok(out));
  });
}

void api::user_patch(const call_ptr& c, path_args a) {
  auto body = json_body(c);
  if (!body)
    return;
  engine::user_patch patch;
  patch.must_exist = true;
  std::string unused;
  input_error err;
  if (!parse_user(*body, "body", false, opts_.limits, unused, patch, err))
    return c->finish(error(err.status, err.message));
  blocking_([this, c, id = std::move(a.id), patch = std::move(patch)] {
    auto r = engine_.put_user(id, patch);
    if (!r)
      return c->finish(engine_error(r.error()));
    c->finish(ok(json{{"RowAffected", 1}}));
  });
}

void api::user_delete(const call_ptr& c, path_args a) {
  blocking_([this, c, id = std::move(a.id)] {
    auto r = engine_.forget_user(id);
    if (!r)
      return c->finish(engine_error(r.error()));
    c->finish(ok(json{{"RowAffected", *r ? 1 : 0}}));
  });
}

}  // namespace rtrec::http
