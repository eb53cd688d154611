// A recommender's user-neighbor query (engine/recent_users.hpp):
//
//   profile_atom --> the user's profile shard          (recent items, weights)
//   user_nb_atom --> every reachable item shard, at once (contributions of the
//                    users listed for the recent items each owns)
//   rank            engine::rank_user_neighbors (sums in recent-item order)
//   names_atom   --> the profile shards of the candidates (user keys -> ids;
//                    a user forgotten since it was listed has none: dropped)
//   page            offset, n
//
// Cost: 1 + M + (at most S) requests; recent_max * item_users_max
// candidates at most, each read once on its item shard and named once.
#include <memory>

#include "actors/recommender_steps.hpp"
#include "engine/recent_users.hpp"

namespace rtrec::recommender_steps {

namespace {

// One query in flight.
struct neighbors_query {
  user_neighbors_request request;
  engine::key_t self_key = 0;
  std::vector<engine::user_neighbor_parts> parts;
  std::size_t waiting = 0;
  std::uint32_t missing = 0;  // item shards on unreachable nodes
  std::vector<engine::scored> ranked;
  std::vector<std::string> names;  // of ranked
};

// Pages the named candidates and delivers them.
void deliver(const std::shared_ptr<neighbors_query>& q, reply rp, done_flag done) {
  recommendations out;
  out.missing_shards = q->missing;
  std::size_t skipped = 0;
  for (std::size_t k = 0; k < q->ranked.size() && out.items.size() < q->request.n; ++k) {
    if (q->names[k].empty() || skipped++ < q->request.offset)
      continue;
    out.items.push_back({std::move(q->names[k]), q->ranked[k].score});
  }
  *done = true;
  rp.deliver(std::move(out));
}

// Names the ranked candidates through their profile shards, then delivers.
void name_candidates(self_ptr self, std::shared_ptr<neighbors_query> q, reply rp,
                     done_flag done) {
  const auto& routes = self->state.router;
  const auto shards = routes.profile_count();
  std::vector<name_lookup> asks(shards);
  std::vector<std::vector<std::size_t>> where(shards);
  for (std::size_t k = 0; k < q->ranked.size(); ++k) {
    const auto s = engine::shard_of(q->ranked[k].key, shards);
    asks[s].keys.push_back(q->ranked[k].key);
    where[s].push_back(k);
  }
  q->names.assign(q->ranked.size(), std::string{});
  q->waiting = 0;
  for (std::uint32_t s = 0; s < shards; ++s)
    if (!asks[s].keys.empty() && routes.profile(s))
      ++q->waiting;  // a shard on an unreachable node: its users stay unnamed
  if (q->waiting == 0)
    return deliver(q, rp, done);
  for (std::uint32_t s = 0; s < shards; ++s) {
    if (asks[s].keys.empty() || !routes.profile(s))
      continue;
    auto slots = std::make_shared<std::vector<std::size_t>>(std::move(where[s]));
    ask<name_lookup>(
      self, done, rp, "user names", *routes.profile(s),
      [=](name_lookup& r) mutable {
        for (std::size_t j = 0; j < slots->size() && j < r.names.size(); ++j)
          q->names[(*slots)[j]] = std::move(r.names[j]);
        if (--q->waiting == 0)
          deliver(q, rp, done);
      },
      names_atom::value, std::move(asks[s]));
  }
}

// Asks every reachable item shard for its contributions, then ranks.
void gather(self_ptr self, std::shared_ptr<neighbors_query> q, engine::user_neighbor_query uq,
            reply rp, done_flag done) {
  const auto& routes = self->state.router;
  for (std::uint32_t m = 0; m < routes.item_count(); ++m)
    routes.item(m) ? ++q->waiting : ++q->missing;
  if (q->waiting == 0) {
    *done = true;
    rp.deliver(caf::make_error(error_code::shard_unavailable,
                               "user neighbors: every item shard is on an unreachable node"));
    return;
  }
  for (std::uint32_t m = 0; m < routes.item_count(); ++m) {
    if (!routes.item(m))
      continue;
    ask<engine::user_neighbor_parts>(
      self, done, rp, "user neighbors", *routes.item(m),
      [=](engine::user_neighbor_parts& part) mutable {
        q->parts.push_back(std::move(part));
        if (--q->waiting > 0)
          return;
        q->ranked = engine::rank_user_neighbors(q->parts, q->self_key);
        q->parts.clear();
        name_candidates(self, q, rp, done);
      },
      user_nb_atom::value, uq);
  }
}

}  // namespace

void user_neighbors(self_ptr self, reply rp, user_neighbors_request x) {
  const auto& routes = self->state.router;
  if (x.n > max_results || x.offset > max_results) {
    rp.deliver(caf::make_error(error_code::invalid_request,
                               "n and offset must each be at most 10000"));
    return;
  }
  auto owner = routes.profile_of(x.user);
  if (!owner) {
    rp.deliver(std::move(owner.error()));
    return;
  }
  auto q = std::make_shared<neighbors_query>();
  q->self_key = engine::hash_id(x.user);
  auto user = x.user;
  q->request = std::move(x);
  auto done = track(self, rp, "user neighbors");
  ask<engine::profile_view>(
    self, done, rp, "profile", *owner,
    [=](engine::profile_view& v) mutable {
      if (v.recent.empty()) {
        *done = true;
        rp.deliver(recommendations{});
        return;
      }
      gather(self, q, {std::move(v.recent), std::move(v.recent_weight)}, rp, done);
    },
    profile_atom::value, std::move(user));
}

}  // namespace rtrec::recommender_steps
