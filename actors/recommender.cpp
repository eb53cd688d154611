#include "actors/recommender.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "actors/recommender_steps.hpp"
#include "engine/profile_store.hpp"
#include "engine/scoring.hpp"

namespace rtrec {

namespace {

using namespace recommender_steps;

// Asks the item shard `dest` and relays its answer.
template <class... Ts>
void forward(self_ptr self, reply rp, caf::expected<item_shard_actor> dest, std::uint32_t n,
             const char* step, Ts&&... xs) {
  if (n > max_results) {
    rp.deliver(caf::make_error(error_code::invalid_request, "n must be at most 10000"));
    return;
  }
  if (!dest) {
    rp.deliver(unavailable(self, step, dest.error()));
    return;
  }
  auto done = track(self, rp, step);
  ask<recommendations>(
    self, done, rp, step, *dest,
    [=](recommendations& r) mutable {
      *done = true;
      rp.deliver(std::move(r));
    },
    std::forward<Ts>(xs)...);
}

// Checks a query's paging and that the shards it needs exist; returns its
// options, or delivers invalid_request / shard_unavailable through `rp` and
// returns nullopt.
std::optional<engine::recommend_options> options_for(self_ptr self, reply& rp,
                                                     std::uint32_t n, std::uint32_t offset,
                                                     const std::string& category,
                                                     bool needs_profiles) {
  const auto& routes = self->state.router;
  if (n > max_results || offset > max_results) {
    rp.deliver(caf::make_error(error_code::invalid_request,
                               "n and offset must each be at most 10000"));
    return std::nullopt;
  }
  if (routes.item_count() == 0 || (needs_profiles && routes.profile_count() == 0)) {
    rp.deliver(caf::make_error(error_code::shard_unavailable, "no shards configured"));
    return std::nullopt;
  }
  engine::recommend_options o;
  o.n = n;
  o.offset = offset;
  o.filter.category = category;
  return o;
}

// Delivers a merged page. Items that no shard named with its partial scores
// (each names only its best; see score_query::names_top) are named by one
// more request to a reachable item shard (the first on this node, else the
// first); an item it does not know, or that was hidden meanwhile, is
// dropped, as an unnamed one always was.
void deliver_page(self_ptr self, engine::named_page page, std::uint32_t missing_shards,
                  reply rp, done_flag done) {
  name_lookup ask_for;
  for (std::size_t k = 0; k < page.items.size(); ++k)
    if (page.names[k].empty())
      ask_for.keys.push_back(page.items[k].key);
  // Every item shard holds every item's entry: prefer one on this node.
  const item_shard_actor* dest = nullptr;
  for (const auto& item : self->state.router.items())
    if (item && (dest == nullptr || (item.node() == self->node() && dest->node() != self->node())))
      dest = &item;
  if (ask_for.keys.empty() || dest == nullptr) {
    *done = true;
    rp.deliver(recommendations{engine::named_only(std::move(page)), missing_shards});
    return;
  }
  auto held = std::make_shared<engine::named_page>(std::move(page));
  ask<name_lookup>(
    self, done, rp, "names", *dest,
    [=](name_lookup& r) mutable {
      *done = true;
      std::size_t next = 0;
      for (auto& name : held->names)
        if (name.empty() && next < r.names.size())
          name = std::move(r.names[next++]);
      rp.deliver(recommendations{engine::named_only(std::move(*held)), missing_shards});
    },
    names_atom::value, std::move(ask_for));
}

// A query asked of the item shards in turn.
struct chain {
  engine::score_query base;  // without the popular list (shard 0 adds it)
  engine::recommend_options options;
  std::vector<std::uint32_t> order;  // reachable item shards, in shard order
  std::uint32_t missing = 0;         // item shards on unreachable nodes
};

// Asks item shard c->order[pos] to add its partial scores to `upstream` (the
// earlier shards' sums) and passes the answer on; the last shard's answer is
// complete and named, so nothing is merged here. A shard whose node went
// down meanwhile is skipped; if it was the last, the sums so far are
// delivered (names looked up as needed); with the blend on, that degraded
// answer ranks by the co-occurrence sums alone (no shard could blend).
void chain_step(self_ptr self, std::shared_ptr<chain> c, std::size_t pos,
                engine::shard_scores upstream, reply rp, done_flag done) {
  const auto& routes = self->state.router;
  while (pos < c->order.size() && !routes.item(c->order[pos])) {
    ++c->missing;
    ++pos;
  }
  if (pos == c->order.size()) {
    deliver_page(self, engine::merge_shard_page({std::move(upstream)}, c->options), c->missing,
                 rp, done);
    return;
  }
  const auto m = c->order[pos];
  const bool last = pos + 1 == c->order.size();
  // offset + n: the popular list's length (asked of item shard 0), and all
  // the last shard names (its scores are complete: its best are the page).
  const auto page = static_cast<std::uint32_t>(c->options.offset + c->options.n);
  auto query = c->base;
  query.popular = m == 0 ? page : 0;
  query.names = last;
  query.names_top = last ? page : 0;
  ask<engine::shard_scores>(
    self, done, rp, "score", *routes.item(m),
    [=](engine::shard_scores& part) mutable {
      chain_step(self, c, pos + 1, std::move(part), rp, done);  // delivers after the last
    },
    score_atom::value, std::move(query), std::move(upstream), last);
}

// Scores `v` on the item shards and delivers the page, or the first error,
// through `rp` (unless `done`). The reachable shards are asked in turn
// (chain_step): each adds its partial scores to the earlier ones' in its
// own compact per-item records, which costs far less than merging every
// shard's full candidate list here (docs/benchmarks.md). Item shards whose
// node is known to be down are left out and counted in missing_shards: a
// degraded answer beats none.
void scatter(self_ptr self, const engine::profile_view& v, const engine::recommend_options& o,
             reply rp, done_flag done) {
  const auto& routes = self->state.router;
  auto c = std::make_shared<chain>();
  c->options = o;
  c->base = engine::make_query(v, o, false);
  for (std::uint32_t m = 0; m < routes.item_count(); ++m)
    if (routes.item(m))
      c->order.push_back(m);
    else
      ++c->missing;
  if (c->order.empty()) {
    *done = true;
    rp.deliver(caf::make_error(error_code::shard_unavailable,
                               "score: every item shard is on an unreachable node"));
    return;
  }
  chain_step(self, std::move(c), 0, engine::shard_scores{}, rp, done);
}

// A user's recommendations: the owning profile shard's view, then the item
// shards in turn (scatter).
void recommend(self_ptr self, reply rp, recommend_request x) {
  auto checked = options_for(self, rp, x.n, x.offset, x.category, true);
  if (!checked)
    return;
  auto o = *checked;
  o.exclude_seen = x.exclude_seen;
  auto owner = self->state.router.profile_of(x.user);
  if (!owner) {
    rp.deliver(std::move(owner.error()));
    return;
  }
  auto done = track(self, rp, "recommend");
  ask<engine::profile_view>(
    self, done, rp, "profile", *owner,
    [=](engine::profile_view& v) mutable { scatter(self, v, o, rp, done); },
    profile_atom::value, std::move(x.user));
}

// Recommendations for a list of events with no stored user.
void session(self_ptr self, reply rp, session_request x) {
  auto o = options_for(self, rp, x.n, x.offset, x.category, false);
  if (!o)
    return;
  auto done = track(self, rp, "session");
  scatter(self, engine::session_view(self->state.model, x.events), *o, std::move(rp),
          std::move(done));
}

// Items similar to `item`, from the item shard that owns its row.
void similar(self_ptr self, reply rp, std::string item, std::uint32_t n, std::string category) {
  auto dest = self->state.router.item_of(item);
  forward(self, std::move(rp), std::move(dest), n, "similar", similar_atom::value,
          std::move(item), n, std::move(category));
}

// Popular and latest lists come from item shard 0.
template <class Atom>
void from_first(self_ptr self, reply rp, const char* step, Atom atom, std::uint32_t n,
                std::string category) {
  forward(self, std::move(rp), self->state.router.item(0), n, step, atom, n,
          std::move(category));
}

}  // namespace

recommender_actor::behavior_type
recommender(recommender_actor::stateful_pointer<recommender_state> self, topology_config cfg,
            shard_router router, std::shared_ptr<reply_sink> sink) {
  auto& init = self->state;
  init.router = std::move(router);
  init.deadlines.set_timeout(cfg.request_timeout);
  init.model = cfg.model;
  init.sink = std::move(sink);
  init.lane = query_lane_of(self->system());
  return {
    [=](recommend_request& x) -> promise {
      auto rp = self->make_response_promise<recommendations>();
      recommend(self, reply{rp}, std::move(x));
      return rp;
    },
    [=](session_request& x) -> promise {
      auto rp = self->make_response_promise<recommendations>();
      session(self, reply{rp}, std::move(x));
      return rp;
    },
    [=](user_neighbors_request& x) -> promise {
      auto rp = self->make_response_promise<recommendations>();
      user_neighbors(self, reply{rp}, std::move(x));
      return rp;
    },
    [=](similar_atom, std::string& item, std::uint32_t n, std::string& category) -> promise {
      auto rp = self->make_response_promise<recommendations>();
      similar(self, reply{rp}, std::move(item), n, std::move(category));
      return rp;
    },
    [=](popular_atom a, std::uint32_t n, std::string& category) -> promise {
      auto rp = self->make_response_promise<recommendations>();
      from_first(self, reply{rp}, "popular", a, n, std::move(category));
      return rp;
    },
    [=](latest_atom a, std::uint32_t n, std::string& category) -> promise {
      auto rp = self->make_response_promise<recommendations>();
      from_first(self, reply{rp}, "latest", a, n, std::move(category));
      return rp;
    },
    [=](query_atom, std::uint64_t t, recommend_request& x) {
      if (auto rp = ticketed<recommendations>(self->state.sink, t, "recommender"))
        recommend(self, std::move(*rp), std::move(x));
    },
    [=](query_atom, std::uint64_t t, session_request& x) {
      if (auto rp = ticketed<recommendations>(self->state.sink, t, "recommender"))
        session(self, std::move(*rp), std::move(x));
    },
    [=](query_atom, std::uint64_t t, user_neighbors_request& x) {
      if (auto rp = ticketed<recommendations>(self->state.sink, t, "recommender"))
        user_neighbors(self, std::move(*rp), std::move(x));
    },
    [=](query_atom, std::uint64_t t, similar_atom, std::string& item, std::uint32_t n,
        std::string& category) {
      if (auto rp = ticketed<recommendations>(self->state.sink, t, "recommender"))
        similar(self, std::move(*rp), std::move(item), n, std::move(category));
    },
    [=](query_atom, std::uint64_t t, popular_atom a, std::uint32_t n, std::string& category) {
      if (auto rp = ticketed<recommendations>(self->state.sink, t, "recommender"))
        from_first(self, std::move(*rp), "popular", a, n, std::move(category));
    },
    [=](query_atom, std::uint64_t t, latest_atom a, std::uint32_t n, std::string& category) {
      if (auto rp = ticketed<recommendations>(self->state.sink, t, "recommender"))
        from_first(self, std::move(*rp), "latest", a, n, std::move(category));
    },
    [=](directory_atom, const shard_directory& d) {
      self->state.router.update(d, "recommender");
    },
    [=](tick_atom) { self->state.deadlines.on_tick(self); },
  };
}

}  // namespace rtrec
