#include "actors/recommender.hpp"

#include "actors/query_lane.hpp"
#include "actors/util.hpp"

#include <algorithm>
#include <optional>

#include "engine/profile_store.hpp"
#include "engine/scoring.hpp"

namespace rtrec {

namespace {

using self_ptr = recommender_actor::stateful_pointer<recommender_state>;
using promise = caf::typed_response_promise<recommendations>;

// Where a query's answer goes: the requester's response promise, or, for a
// query sent without a requester (query_atom, from the embedded engine), the
// topology's query sink under the query's ticket.
class reply {
 public:
  explicit reply(promise rp) : rp_(std::move(rp)) {}
  reply(std::shared_ptr<query_sink> sink, std::uint64_t ticket)
    : sink_(std::move(sink)), ticket_(ticket) {}

  void deliver(recommendations r) {
    if (sink_)
      sink_->answer(ticket_, std::move(r));
    else
      rp_.deliver(std::move(r));
  }
  void deliver(caf::error err) {
    if (sink_)
      sink_->answer(ticket_, std::move(err));
    else
      rp_.deliver(std::move(err));
  }

 private:
  promise rp_;
  std::shared_ptr<query_sink> sink_;
  std::uint64_t ticket_ = 0;
};
constexpr auto high = caf::message_priority::high;

caf::error unavailable(self_ptr self, const char* step, const caf::error& err) {
  return caf::make_error(error_code::shard_unavailable,
                         std::string{step} + ": " + self->system().render(err));
}

// Keeps a tick pending while any deadline is.
void arm(self_ptr self) {
  auto& st = self->state;
  if (st.tick_armed || st.deadlines.empty())
    return;
  st.tick_armed = true;
  self->delayed_send(caf::actor_cast<recommender_actor>(self), tick_interval(st.timeout),
                     tick_atom::value);
}

// Registers a query's deadline: when it passes first, `rp` gets
// shard_unavailable naming `step`.
done_flag track(self_ptr self, reply rp, const char* step) {
  auto done = std::make_shared<bool>(false);
  auto& st = self->state;
  const auto timeout = st.timeout;
  st.deadlines.add(self->clock().now() + timeout, done, [=]() mutable {
    rp.deliver(caf::make_error(error_code::shard_unavailable,
                               std::string{step} + ": no answer within " +
                                 std::to_string(timeout.count() / 1000000) + " ms"));
  });
  arm(self);
  return done;
}

// No CAF timeout: the query's deadline is tracked (see deadlines.hpp).
constexpr caf::infinite_t untimed{};

// Sends a request to a shard and installs `ok` and `fail`: high priority to a
// local shard (queries overtake ingest batches in its mailbox), normal
// priority to a remote one. CAF 0.17 loses the answer to a high-priority
// request that crosses a node (the response id keeps the priority bit and
// matches no pending request; actor-framework issue #1299), so remote
// queries fall back to arrival order in the remote shard's mailbox.
template <class Dest, class Ok, class Fail, class... Ts>
void ask(self_ptr self, const Dest& dest, Ok ok, Fail fail, Ts&&... xs) {
  if (dest.node() == self->node()) {
    // The shard goes to the scheduler's query lane (see query_lane.hpp).
    expedite(self->state.lane, dest);
    self->request<high>(dest, untimed, std::forward<Ts>(xs)...).then(std::move(ok), std::move(fail));
  } else {
    self->request(dest, untimed, std::forward<Ts>(xs)...).then(std::move(ok), std::move(fail));
  }
}

// Asks item shard `shard` (high priority) and relays its answer or a typed
// error.
template <class... Ts>
void forward(self_ptr self, reply rp, std::size_t shard, std::uint32_t n, const char* step,
             Ts&&... xs) {
  auto& st = self->state;
  if (n > max_results || shard >= st.items.size()) {
    rp.deliver(caf::make_error(error_code::invalid_request,
                               "n must be at most 10000 and item shards must exist"));
    return;
  }
  if (!st.items[shard]) {
    rp.deliver(caf::make_error(error_code::shard_unavailable,
                               std::string{step} + ": item shard " + std::to_string(shard)
                                 + " is on a node that is unreachable"));
    return;
  }
  auto done = track(self, rp, step);
  ask(
    self, st.items[shard],
    [=](recommendations& r) mutable {
      if (!*done) {
        *done = true;
        rp.deliver(std::move(r));
      }
    },
    [=](caf::error& err) mutable {
      if (!*done) {
        *done = true;
        rp.deliver(unavailable(self, step, err));
      }
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
  const auto& st = self->state;
  if (n > max_results || offset > max_results) {
    rp.deliver(caf::make_error(error_code::invalid_request,
                               "n and offset must each be at most 10000"));
    return std::nullopt;
  }
  if (st.items.empty() || (needs_profiles && st.profiles.empty())) {
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
  for (const auto& item : self->state.items)
    if (item && (dest == nullptr || (item.node() == self->node() && dest->node() != self->node())))
      dest = &item;
  if (ask_for.keys.empty() || dest == nullptr) {
    *done = true;
    rp.deliver(recommendations{engine::named_only(std::move(page)), missing_shards});
    return;
  }
  auto held = std::make_shared<engine::named_page>(std::move(page));
  ask(
    self, *dest,
    [=](name_lookup& r) mutable {
      if (*done)
        return;
      *done = true;
      std::size_t next = 0;
      for (auto& name : held->names)
        if (name.empty() && next < r.names.size())
          name = std::move(r.names[next++]);
      rp.deliver(recommendations{engine::named_only(std::move(*held)), missing_shards});
    },
    [=](caf::error& err) mutable {
      if (!*done) {
        *done = true;
        rp.deliver(unavailable(self, "names", err));
      }
    },
    names_atom::value, std::move(ask_for));
}

// A query asked of the item shards in turn.
struct chain {
  engine::score_query base;  // without the popular list (shard 0 adds it)
  engine::recommend_options options;
  std::vector<std::size_t> order;  // reachable item shards, in shard order
  std::uint32_t missing = 0;       // item shards on unreachable nodes
};

// Asks item shard c->order[pos] to add its partial scores to `upstream` (the
// earlier shards' sums) and passes the answer on; the last shard's answer is
// complete and named, so nothing is merged here. A shard whose node went
// down meanwhile is skipped; if it was the last, the sums so far are
// delivered (names looked up as needed).
void chain_step(self_ptr self, std::shared_ptr<chain> c, std::size_t pos,
                engine::shard_scores upstream, reply rp, done_flag done) {
  auto& st = self->state;
  while (pos < c->order.size() && !st.items[c->order[pos]]) {
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
  ask(
    self, st.items[m],
    [=](engine::shard_scores& part) mutable {
      if (!*done)
        chain_step(self, c, pos + 1, std::move(part), rp, done);  // delivers after the last
    },
    [=](caf::error& err) mutable {
      if (!*done) {
        *done = true;
        rp.deliver(unavailable(self, "score", err));
      }
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
  auto& st = self->state;
  auto c = std::make_shared<chain>();
  c->options = o;
  c->base = engine::make_query(v, o, false);
  for (std::size_t m = 0; m < st.items.size(); ++m)
    if (st.items[m])
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
  auto& st = self->state;
  auto checked = options_for(self, rp, x.n, x.offset, x.category, true);
  if (!checked)
    return;
  auto o = *checked;
  o.exclude_seen = x.exclude_seen;
  const auto owner = engine::shard_of(engine::hash_id(x.user),
                                      static_cast<std::uint32_t>(st.profiles.size()));
  if (!st.profiles[owner]) {
    rp.deliver(caf::make_error(error_code::shard_unavailable,
                               "profile shard " + std::to_string(owner)
                                 + " is on a node that is unreachable"));
    return;
  }
  auto done = track(self, rp, "recommend");
  ask(
    self, st.profiles[owner],
    [=](engine::profile_view& v) mutable {
      if (!*done)
        scatter(self, v, o, rp, done);
    },
    [=](caf::error& err) mutable {
      if (!*done) {
        *done = true;
        rp.deliver(unavailable(self, "profile", err));
      }
    },
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
  const auto& items = self->state.items;
  const auto owner = items.empty() ? 0
                                   : engine::shard_of(engine::hash_id(item),
                                                      static_cast<std::uint32_t>(items.size()));
  forward(self, std::move(rp), owner, n, "similar", similar_atom::value, std::move(item), n,
          std::move(category));
}

// The reply to a query sent without a requester (query_atom): the topology's
// query sink under `ticket`; nullopt (logged) when there is none.
std::optional<reply> direct(self_ptr self, std::uint64_t ticket) {
  if (!self->state.queries) {
    spdlog::error("recommender: query {} came without a requester and this topology has no "
                  "query sink (topology_config::queries); dropped",
                  ticket);
    return std::nullopt;
  }
  return reply{self->state.queries, ticket};
}

}  // namespace

recommender_actor::behavior_type
recommender(recommender_actor::stateful_pointer<recommender_state> self, topology_config cfg,
            std::vector<profile_shard_actor> profiles, std::vector<item_shard_actor> items) {
  self->state.profiles = std::move(profiles);
  self->state.items = std::move(items);
  self->state.timeout = cfg.request_timeout;
  self->state.model = cfg.model;
  self->state.queries = cfg.queries;
  self->state.lane = query_lane_of(self->system());
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
    [=](similar_atom, std::string& item, std::uint32_t n, std::string& category) -> promise {
      auto rp = self->make_response_promise<recommendations>();
      similar(self, reply{rp}, std::move(item), n, std::move(category));
      return rp;
    },
    [=](popular_atom, std::uint32_t n, std::string& category) -> promise {
      auto rp = self->make_response_promise<recommendations>();
      forward(self, reply{rp}, 0, n, "popular", popular_atom::value, n, std::move(category));
      return rp;
    },
    [=](latest_atom, std::uint32_t n, std::string& category) -> promise {
      auto rp = self->make_response_promise<recommendations>();
      forward(self, reply{rp}, 0, n, "latest", latest_atom::value, n, std::move(category));
      return rp;
    },
    [=](query_atom, std::uint64_t t, recommend_request& x) {
      if (auto rp = direct(self, t))
        recommend(self, std::move(*rp), std::move(x));
    },
    [=](query_atom, std::uint64_t t, session_request& x) {
      if (auto rp = direct(self, t))
        session(self, std::move(*rp), std::move(x));
    },
    [=](query_atom, std::uint64_t t, similar_atom, std::string& item, std::uint32_t n,
        std::string& category) {
      if (auto rp = direct(self, t))
        similar(self, std::move(*rp), std::move(item), n, std::move(category));
    },
    [=](query_atom, std::uint64_t t, popular_atom, std::uint32_t n, std::string& category) {
      if (auto rp = direct(self, t))
        forward(self, std::move(*rp), 0, n, "popular", popular_atom::value, n,
                std::move(category));
    },
    [=](query_atom, std::uint64_t t, latest_atom, std::uint32_t n, std::string& category) {
      if (auto rp = direct(self, t))
        forward(self, std::move(*rp), 0, n, "latest", latest_atom::value, n,
                std::move(category));
    },
    [=](directory_atom, const shard_directory& d) {
      update_handles(self->state.profiles, d.profiles, "recommender", "profile");
      update_handles(self->state.items, d.items, "recommender", "item");
    },
    [=](tick_atom) {
      auto& st = self->state;
      st.tick_armed = false;
      st.deadlines.expire(self->clock().now());
      arm(self);
    },
  };
}

}  // namespace rtrec
