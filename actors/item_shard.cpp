#include "actors/item_shard.hpp"

#include "actors/util.hpp"

#include <algorithm>
#include <thread>

namespace rtrec {

namespace {

using self_ptr = item_shard_actor::stateful_pointer<item_shard_state>;

// Applies a delta batch and measures its lag; returns its seq.
std::uint64_t apply(item_shard_state& st, delta_batch& x) {
  st.model->apply(x.delta);
  const auto& model = *st.model;
  st.users.apply(x.delta, [&model](engine::key_t item) { return model.owns(item); });
  ++st.batches;
  if (x.source >= st.applied.size())
    st.applied.resize(x.source + 1, 0);
  st.applied[x.source] = std::max(st.applied[x.source], x.seq);
  if (x.created_ns > 0) {
    auto lag = steady_ns() - x.created_ns;
    st.lag.record(lag > 0 ? static_cast<std::uint64_t>(lag) : 0);
  }
  return x.seq;
}

// The names of x.keys (empty for unknown or hidden items).
name_lookup names_of(item_shard_state& st, name_lookup& x) {
  const auto& m = *st.model;
  ++st.name_lookups;
  x.names.clear();
  x.names.reserve(x.keys.size());
  for (const auto k : x.keys) {
    const auto* e = m.find(k);
    x.names.push_back(e != nullptr && !e->hidden ? e->id : std::string{});
  }
  x.keys.clear();
  return std::move(x);
}

caf::result<engine::item_meta> meta_of(const item_shard_state& st, const std::string& id) {
  auto meta = st.model->meta(id);
  if (!meta)
    return caf::make_error(error_code::not_found, "no item with id " + id);
  return std::move(*meta);
}

caf::result<engine::item_page> page_of(const item_shard_state& st, const std::string& cursor,
                                       std::uint32_t n) {
  auto page = st.model->page(cursor, n);
  if (!page)
    return caf::make_error(error_code::invalid_request,
                           "cursor: not a cursor this API returned: " + cursor.substr(0, 64));
  return std::move(*page);
}

// The model as a snapshot, serialized by a thread while the shard answers
// queries and holds back delta batches and flushes (finish_snapshot
// releases them in order).
caf::typed_response_promise<shard_snapshot> start_snapshot(self_ptr self) {
  auto& st = self->state;
  auto rp = self->make_response_promise<shard_snapshot>();
  if (st.snapshotting) {
    rp.deliver(caf::make_error(error_code::overloaded, "a snapshot is already running"));
    return rp;
  }
  const auto t0 = steady_ns();
  // Queries must only read the model while it is serialized: if the next
  // popular() would recompute the cache, let it happen now (with no delta
  // applied meanwhile, the result is the same).
  if (st.model->popular_refresh_due())
    (void) st.model->popular(1, {});
  st.snapshotting = true;
  st.snapshot_rp = rp;
  auto me = caf::actor_cast<item_shard_actor>(self);
  std::thread([me, model = st.model, applied = st.applied, t0] {
    shard_snapshot out;
    out.bytes = storage::encode_item_snapshot(applied, *model);
    out.applied = applied;
    out.count = model->stats().items;
    out.hold_ns = static_cast<std::uint64_t>(steady_ns() - t0);
    caf::anon_send(me, snapshot_atom::value, std::move(out));
  }).detach();
  st.snapshot_pause_ns = static_cast<std::uint64_t>(steady_ns() - t0);
  return rp;
}

void finish_snapshot(item_shard_state& st, shard_snapshot& out) {
  st.snapshotting = false;
  out.pause_ns = st.snapshot_pause_ns;  // queries were answered meanwhile
  st.snapshot_rp.deliver(std::move(out));
  auto held = std::move(st.held);
  st.held.clear();
  for (auto& op : held)
    op.rp.deliver(op.flush ? st.batches : apply(st, op.delta));
}

item_shard_stats stats_of(const item_shard_state& st) {
  item_shard_stats out;
  out.shard = st.index;
  out.batches = st.batches;
  out.model = st.model->stats();
  out.lag_p50_ns = st.lag.percentile(0.5);
  out.lag_p99_ns = st.lag.percentile(0.99);
  out.lag_max_ns = st.lag.max();
  out.name_lookups = st.name_lookups;
  out.item_user_entries = st.users.entries();
  out.item_user_evictions = st.users.evictions();
  return out;
}

}  // namespace

item_shard_actor::behavior_type
item_shard(item_shard_actor::stateful_pointer<item_shard_state> self, topology_config cfg,
           std::uint32_t index, std::uint32_t count, topology_context ctx) {
  auto& init = self->state;
  init.index = index;
  init.applied.assign(std::max<std::uint32_t>(1, cfg.profile_shards), 0);
  auto& rec = ctx.recovered;
  if (rec && index < rec->items.size() && rec->items[index]) {
    init.model = std::move(rec->items[index]);
    init.applied = rec->item_applied[index];
  } else {
    init.model = std::make_unique<engine::item_model>(cfg.model, index, count);
  }
  if (rec && index < rec->item_users.size() && rec->item_users[index])
    init.users = std::move(*rec->item_users[index]);
  else
    init.users = engine::recent_users{cfg.model.item_users_max};
  // A delta batch or a flush waits while a snapshot is serialized.
  auto when_free = [=](delta_batch x, bool flush) {
    auto rp = self->make_response_promise<std::uint64_t>();
    auto& st = self->state;
    if (st.snapshotting)
      st.held.push_back({std::move(x), flush, rp});
    else
      rp.deliver(flush ? st.batches : apply(st, x));
    return rp;
  };
  return {
    [=](delta_batch& x) { return when_free(std::move(x), false); },
    [=](score_atom, const engine::score_query& q, engine::shard_scores& upstream,
        bool last) -> engine::shard_scores {
      return engine::score_chained_on_shard(*self->state.model, q, std::move(upstream), last);
    },
    [=](names_atom, name_lookup& x) { return names_of(self->state, x); },
    [=](user_nb_atom, const engine::user_neighbor_query& q) {
      return engine::user_neighbor_contributions(self->state.users, *self->state.model, q);
    },
    [=](similar_atom, const std::string& item, std::uint32_t n,
        const std::string& category) -> recommendations {
      auto& m = *self->state.model;
      return {engine::resolve(m, m.similar(engine::hash_id(item), n, {category}))};
    },
    [=](popular_atom, std::uint32_t n, const std::string& category) -> recommendations {
      auto& m = *self->state.model;
      return {engine::resolve(m, m.popular(n, {category}))};
    },
    [=](latest_atom, std::uint32_t n, const std::string& category) -> recommendations {
      auto& m = *self->state.model;
      return {engine::resolve(m, m.latest(n, {category}))};
    },
    [=](item_atom, const std::string& id) { return meta_of(self->state, id); },
    [=](item_atom, const engine::item_meta& meta) -> bool {
      return self->state.model->set_meta(meta);
    },
    [=](remove_atom, const std::string& id) -> bool { return self->state.model->remove(id); },
    [=](list_atom, const std::string& cursor, std::uint32_t n) {
      return page_of(self->state, cursor, n);
    },
    [=](flush_atom) { return when_free(delta_batch{}, true); },
    [=](snapshot_atom) { return start_snapshot(self); },
    [=](snapshot_atom, shard_snapshot& out) { finish_snapshot(self->state, out); },
    [=](stats_atom) { return stats_of(self->state); },
  };
}

}  // namespace rtrec
