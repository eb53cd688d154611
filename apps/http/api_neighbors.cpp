// User neighbors, in Gorse's shapes:
//
//   GET /api/user/{id}/neighbors?n=&offset=            -> [{"Id","Score"}]
//   GET /api/user-to-user/{name}/{id}?n=&offset=       (Gorse v0.5's name;
//                                                       rtrec's one is "neighbors")
//
// Similar users, best first, from service::user_neighbors (the formula and
// its bounded cost: engine/recent_users.hpp). An unknown user, or one with
// no recent items, has none: [] (Gorse answers its cache's empty list too).
#include <fmt/format.h>

#include "apps/http/api.hpp"
#include "apps/http/api_call.hpp"

namespace rtrec::http {

using nlohmann::json;

void api::user_neighbors(const call_ptr& c, path_args a) {
  auto n = c->count("n", 10, max_results);
  if (!n)
    return;
  auto offset = c->count("offset", 0, max_results);
  if (!offset)
    return;
  if (!begin_query(c))
    return;
  engine_.user_neighbors_async(
    std::move(a.id), *n, *offset,
    [this, c](rtrec::result<std::vector<engine::recommendation>> r) {
      metrics_.queries_in_flight.fetch_sub(1, std::memory_order_relaxed);
      if (!r)
        return c->finish(engine_error(r.error()));
      json out = json::array();
      for (const auto& x : *r)
        out.push_back({{"Id", x.item}, {"Score", x.score}});
      c->finish(ok(out));
    });
}

// Gorse v0.5's name for /api/user/{id}/neighbors: the one user-to-user
// recommender rtrec has is "neighbors" (Gorse's default name).
void api::user_to_user(const call_ptr& c, path_args a) {
  if (a.name != "neighbors")
    return c->finish(error(404, fmt::format("user-to-user recommender \"{}\" does not exist; "
                                            "rtrec has \"neighbors\"",
                                            a.name.substr(0, 64))));
  user_neighbors(c, std::move(a));
}

}  // namespace rtrec::http
