#include "actors/item_shard.hpp"

#include "actors/item_streams.hpp"
#include "actors/util.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <thread>

namespace rtrec {

namespace {

using item_streams::self_ptr;

// A delta batch's events [from, to) applied to the model and the recent users.
void apply_range(item_shard_state& st, const delta_batch& x, std::size_t from, std::size_t to) {
  st.model->apply(x.delta, from, to);
  const auto& model = *st.model;
  st.users.apply(x.delta, [&model](engine::key_t item) { return model.owns(item); }, from, to);
}

// A delta batch applied whole: counted, its stream advanced, its lag measured.
void finish(item_shard_state& st, const delta_batch& x) {
  ++st.batches;
  st.streams.advance(x.source, x.seq);
  if (x.created_ns > 0) {
    auto lag = steady_ns() - x.created_ns;
    st.lag.record(lag > 0 ? static_cast<std::uint64_t>(lag) : 0);
  }
}

}  // namespace

namespace item_streams {

void apply_batch(item_shard_state& st, const delta_batch& x) {
  apply_range(st, x, 0, x.delta.size());
  finish(st, x);
}

}  // namespace item_streams

namespace {

using namespace item_streams;

// Whether held.front(), a delta batch of its sender's stream, is to be
// applied; a duplicate is counted, a gap counted and a resync asked.
bool judge_front(self_ptr self) {
  auto& st = self->state;
  const auto& op = st.held.front();
  ask_seed(self, op.batch.source, op.sender);
  switch (st.streams.judge(op.batch.source, op.batch.prev, op.batch.seq)) {
    case engine::delta_verdict::apply:
      return true;
    case engine::delta_verdict::duplicate:
      ++st.duplicates;
      return false;
    case engine::delta_verdict::gap:
      ++st.gaps;
      ask_resync(self, op.batch.source, op.sender);
      return false;
  }
  return false;
}

// Answers held.front() (a delta batch: with its seq, whether applied or
// not) and takes it off.
void pop_front_delta(item_shard_state& st) {
  auto& op = st.held.front();
  op.rp.deliver(op.batch.seq);
  st.held.pop_front();
  st.front_started = false;
  st.front_next = 0;
}

// Applies up to `budget` more events of held.front(), a started delta
// batch; once it is applied whole, finishes and answers it. Returns the
// events applied.
std::size_t advance_front(item_shard_state& st, std::size_t budget) {
  const auto& x = st.held.front().batch;
  const std::size_t n = std::min(x.delta.size() - st.front_next, budget);
  apply_range(st, x, st.front_next, st.front_next + n);
  st.front_next += n;
  if (st.front_next == x.delta.size()) {
    finish(st, x);
    pop_front_delta(st);
  }
  return n;
}

}  // namespace

namespace item_streams {

// Works through `held` in order, st.slice events of delta batches at a
// time, until it is empty or a snapshot starts. After a slice, when a query
// waits, what is left goes on in a later turn (an apply_atom to itself,
// behind the query, which is of high priority).
void drain(self_ptr self) {
  using k = item_shard_state::held_op;
  auto& st = self->state;
  const std::size_t slice = st.slice == 0 ? std::numeric_limits<std::size_t>::max() : st.slice;
  std::size_t budget = slice;
  while (!st.held.empty() && !st.snapshotting) {
    if (budget == 0) {
      if (query_waiting(st.lane, self))
        break;
      budget = slice;
    }
    auto& op = st.held.front();
    if (op.kind == k::flush) {
      auto rp = std::move(op.rp);
      st.held.pop_front();
      answer_flush(st, rp);
      continue;
    }
    if (op.kind == k::resync) {
      auto r = std::move(op);
      st.held.pop_front();
      apply_resync(st, r.batch.source, r.reply);
      continue;
    }
    if (op.kind == k::meta) {
      take_meta_front(self);
      continue;
    }
    if (op.kind == k::meta_resync) {
      auto r = std::move(op);
      st.held.pop_front();
      apply_meta_resync(self, r.meta_reply);
      continue;
    }
    if (!st.front_started) {
      if (!judge_front(self)) {
        pop_front_delta(st);
        continue;
      }
      st.front_started = true;
    }
    budget -= advance_front(st, budget);
  }
  if (!st.held.empty() && !st.snapshotting && !st.apply_sent) {
    st.apply_sent = true;
    self->send(self, apply_atom::value);
  }
}

}  // namespace item_streams

namespace {

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
  // The snapshot records whole batches only.
  if (st.front_started)
    advance_front(st, std::numeric_limits<std::size_t>::max());
  // Queries must only read the model while it is serialized: if the next
  // popular() would recompute the cache, let it happen now (with no delta
  // applied meanwhile, the result is the same).
  if (st.model->popular_refresh_due())
    (void) st.model->popular(1, {});
  st.snapshotting = true;
  st.snapshot_rp = rp;
  auto me = caf::actor_cast<item_shard_actor>(self);
  // applied: every delta stream, then the metadata stream; the payload
  // holds the delta streams (the manifest the metadata stream's position).
  std::thread([me, model = st.model, applied = st.streams.applied(), t0, s = st.meta_stream] {
    shard_snapshot out;
    out.bytes = storage::encode_item_snapshot({applied.begin(), applied.begin() + s}, *model);
    out.applied = applied;
    out.count = model->stats().items;
    out.hold_ns = static_cast<std::uint64_t>(steady_ns() - t0);
    caf::anon_send(me, snapshot_atom::value, std::move(out));
  }).detach();
  st.snapshot_pause_ns = static_cast<std::uint64_t>(steady_ns() - t0);
  return rp;
}

void finish_snapshot(self_ptr self, shard_snapshot& out) {
  auto& st = self->state;
  st.snapshotting = false;
  out.pause_ns = st.snapshot_pause_ns;  // queries were answered meanwhile
  st.snapshot_rp.deliver(std::move(out));
  drain(self);
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
  out.duplicates = st.duplicates;
  out.gaps = st.gaps;
  out.resyncs = st.resyncs;
  out.resync_failures = st.resync_failures;
  out.item_user_entries = st.users.entries();
  out.item_user_evictions = st.users.evictions();
  out.meta_applied = st.streams.applied(st.meta_stream);
  return out;
}

}  // namespace

item_shard_actor::behavior_type
item_shard(item_shard_actor::stateful_pointer<item_shard_state> self, topology_config cfg,
           std::uint32_t index, std::uint32_t count, topology_context ctx) {
  auto& init = self->state;
  init.index = index;
  init.count = count;
  // Stream k < profile_shards: profile shard k's delta batches; stream
  // profile_shards: the item metadata operations.
  init.meta_stream = std::max<std::uint32_t>(1, cfg.profile_shards);
  init.streams = engine::delta_streams{std::vector<std::uint64_t>(init.meta_stream + 1, 0)};
  init.deadlines.set_timeout(cfg.resync_timeout);
  auto& rec = ctx.recovered;
  if (rec && index < rec->items.size() && rec->items[index]) {
    init.model = std::move(rec->items[index]);
    init.streams = engine::delta_streams{rec->item_applied[index]};
  } else {
    init.model = std::make_unique<engine::item_model>(cfg.model, index, count);
  }
  if (rec && index < rec->item_users.size() && rec->item_users[index])
    init.users = std::move(*rec->item_users[index]);
  else
    init.users = engine::recent_users{cfg.model.item_users_max};
  init.slice = cfg.item_apply_slice;
  init.lane = query_lane_of(self->system());
  // Delta batches and flushes take their turn behind those held (a batch
  // half applied, or a snapshot being serialized).
  auto hold = [=](delta_batch x, bool flush) {
    item_shard_state::held_op op;
    op.kind = flush ? item_shard_state::held_op::flush : item_shard_state::held_op::delta;
    op.batch = std::move(x);
    // Before the promise takes the request's sender over.
    op.sender = self->current_sender();
    op.rp = self->make_response_promise<std::uint64_t>();
    auto rp = op.rp;
    self->state.held.push_back(std::move(op));
    drain(self);
    return rp;
  };
  return {
    [=](delta_batch& x) { return hold(std::move(x), false); },
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
    [=](meta_op& x) {
      item_shard_state::held_op op;
      op.kind = item_shard_state::held_op::meta;
      op.op = std::move(x);
      op.sender = self->current_sender();
      op.meta_rp = self->make_response_promise<bool>();
      auto rp = op.meta_rp;
      self->state.held.push_back(std::move(op));
      drain(self);
      return rp;
    },
    [=](list_atom, const std::string& cursor, std::uint32_t n) {
      return page_of(self->state, cursor, n);
    },
    [=](flush_atom) { return hold(delta_batch{}, true); },
    [=](snapshot_atom) { return start_snapshot(self); },
    [=](snapshot_atom, shard_snapshot& out) { finish_snapshot(self, out); },
    [=](tick_atom) { self->state.deadlines.on_tick(self); },
    [=](apply_atom) {
      self->state.apply_sent = false;
      drain(self);
    },
    [=](stats_atom) { return stats_of(self->state); },
  };
}

}  // namespace rtrec
