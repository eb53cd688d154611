#include "actors/item_shard.hpp"

#include "actors/util.hpp"

#include <algorithm>

namespace rtrec {

item_shard_actor::behavior_type
item_shard(item_shard_actor::stateful_pointer<item_shard_state> self, topology_config cfg,
           std::uint32_t index, std::uint32_t count) {
  auto& init = self->state;
  init.index = index;
  init.applied.assign(std::max<std::uint32_t>(1, cfg.profile_shards), 0);
  if (cfg.recovered && index < cfg.recovered->items.size() && cfg.recovered->items[index]) {
    init.model = std::move(cfg.recovered->items[index]);
    init.applied = cfg.recovered->item_applied[index];
  } else {
    init.model = std::make_unique<engine::item_model>(cfg.model, index, count);
  }
  return {
    [=](delta_batch& x) -> std::uint64_t {
      auto& st = self->state;
      st.model->apply(x.delta);
      ++st.batches;
      if (x.source >= st.applied.size())
        st.applied.resize(x.source + 1, 0);
      st.applied[x.source] = std::max(st.applied[x.source], x.seq);
      if (x.created_ns > 0) {
        auto lag = steady_ns() - x.created_ns;
        st.lag.record(lag > 0 ? static_cast<std::uint64_t>(lag) : 0);
      }
      return x.seq;
    },
    [=](score_atom, const engine::score_query& q) -> engine::shard_scores {
      return engine::score_on_shard(*self->state.model, q);
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
    [=](item_atom, const std::string& id) -> caf::result<engine::item_meta> {
      const auto* e = self->state.model->find(engine::hash_id(id));
      if (e == nullptr || e->id != id)
        return caf::make_error(error_code::not_found, "no item with id " + id);
      return engine::item_meta{e->id, e->categories, e->hidden, e->created};
    },
    [=](item_atom, const engine::item_meta& meta) -> bool {
      return self->state.model->set_meta(meta);
    },
    [=](remove_atom, const std::string& id) -> bool {
      return self->state.model->remove(id);
    },
    [=](flush_atom) -> std::uint64_t { return self->state.batches; },
    [=](snapshot_atom) -> shard_snapshot {
      auto& st = self->state;
      const auto t0 = steady_ns();
      shard_snapshot out;
      out.bytes = storage::encode_item_snapshot(st.applied, *st.model);
      out.applied = st.applied;
      out.count = st.model->stats().items;
      out.pause_ns = static_cast<std::uint64_t>(steady_ns() - t0);
      return out;
    },
    [=](stats_atom) -> item_shard_stats {
      auto& st = self->state;
      auto s = st.model->stats();
      item_shard_stats out;
      out.shard = st.index;
      out.batches = st.batches;
      out.events = s.events;
      out.items = s.items;
      out.rows = s.rows;
      out.row_entries = s.row_entries;
      out.pair_updates = s.pair_updates;
      out.prunes = s.prunes;
      out.collisions = s.collisions;
      out.memory_bytes = s.memory_bytes;
      out.lag_p50_ns = st.lag.percentile(0.5);
      out.lag_p99_ns = st.lag.percentile(0.99);
      out.lag_max_ns = st.lag.max();
      return out;
    },
  };
}

}  // namespace rtrec
