#include "actors/item_shard.hpp"

#include "actors/util.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <thread>

namespace rtrec {

namespace {

using self_ptr = item_shard_actor::stateful_pointer<item_shard_state>;

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

// Applies a delta batch whole (a resync's) and measures its lag.
void apply(item_shard_state& st, const delta_batch& x) {
  apply_range(st, x, 0, x.delta.size());
  finish(st, x);
}

void on_resync(self_ptr self, std::uint32_t source, resync_reply& r);
void on_meta_resync(self_ptr self, meta_resync_reply& r);
void drain(self_ptr self);
void fail_meta_waiting(item_shard_state& st, const caf::error& err);

// Whether a resync or a seed is under way (a flush waits for them).
bool catching_up(const item_shard_state& st) {
  return st.streams.any_resyncing() || st.seeds_pending > 0;
}

// Answers the flushes held back by resyncs and seeds once none is under way.
void release_flushes(item_shard_state& st) {
  if (catching_up(st))
    return;
  auto waiting = std::move(st.waiting_flushes);
  st.waiting_flushes.clear();
  for (auto& rp : waiting)
    rp.deliver(st.batches);
}

// Answers a flush now, or once the resyncs and seeds under way are done.
void answer_flush(item_shard_state& st, caf::typed_response_promise<std::uint64_t>& rp) {
  if (catching_up(st))
    st.waiting_flushes.push_back(rp);
  else
    rp.deliver(st.batches);
}

// Whether `token` is the resync of `source` still awaited (one asked of an
// earlier incarnation of the profile shard is abandoned).
bool awaited(const item_shard_state& st, std::uint32_t source, std::uint64_t token) {
  auto it = st.resync_asked.find(source);
  return st.streams.resyncing(source) && it != st.resync_asked.end()
         && it->second.second == token;
}

// Asks `to` (the sender of stream `source`: a profile shard, or the meta
// writer for the metadata stream) for what came after what this shard has
// applied of the stream, unless it is already asked. A resync asked of
// another incarnation (its node restarted meanwhile: a request to a dead
// node fails only at its deadline) is asked again here. `on_reply` gets the
// answer (Reply) while it is still awaited.
template <class Reply, class Handle, class OnReply>
void ask_stream_resync(self_ptr self, std::uint32_t source, const Handle& to, const char* what,
                       OnReply on_reply) {
  auto& st = self->state;
  if (!to)
    return;
  auto it = st.resync_asked.find(source);
  if (st.streams.resyncing(source) && it != st.resync_asked.end()
      && it->second.first == to.address())
    return;
  const auto token = ++st.next_resync;
  st.resync_asked[source] = {to.address(), token};
  st.streams.set_resyncing(source, true);
  const auto from = st.streams.applied(source);
  spdlog::info("item shard {}: the {} stream has a gap after seq {}; asking its sender for a "
               "resync", st.index, what, from);
  timed_request<Reply>(
    self, st.deadlines, to,
    [self, source, token, on_reply](Reply& r) mutable {
      if (awaited(self->state, source, token))
        on_reply(r);
    },
    [self, source, token, what](caf::error& err) {
      auto& s = self->state;
      if (!awaited(s, source, token))
        return;
      s.streams.set_resyncing(source, false);
      ++s.resync_failures;
      spdlog::warn("item shard {}: resync of the {} stream failed: {}; asked again at its next "
                   "message", s.index, what, self->system().render(err));
      if (source == s.meta_stream)
        fail_meta_waiting(s, err);
      release_flushes(s);
    },
    resync_atom::value, from);
}

// Asks profile shard `source` (`sender`) for the delta batches after what
// this shard has applied of its stream.
void ask_resync(self_ptr self, std::uint32_t source, const caf::strong_actor_ptr& sender) {
  auto shard = caf::actor_cast<profile_shard_actor>(sender);
  ask_stream_resync<resync_reply>(self, source, shard, "delta",
                                  [self, source](resync_reply& r) { on_resync(self, source, r); });
}

// Asks the meta writer (`sender`) for the metadata operations after what
// this shard has applied.
void ask_meta_resync(self_ptr self, const caf::strong_actor_ptr& sender) {
  auto writer = caf::actor_cast<item_writer_actor>(sender);
  ask_stream_resync<meta_resync_reply>(self, self->state.meta_stream, writer, "item metadata",
                                       [self](meta_resync_reply& r) { on_meta_resync(self, r); });
}

// Asks profile shard `source` (`sender`, on another node) for its users'
// entries of this shard's items, once after this shard started (the
// lists are derived state: recovery rebuilt them from this node's profile
// shards only). A failed seed is asked again at the stream's next batch.
void ask_seed(self_ptr self, std::uint32_t source, const caf::strong_actor_ptr& sender) {
  auto& st = self->state;
  if (source < st.seeded.size() && st.seeded[source])
    return;
  if (source >= st.seeded.size())
    st.seeded.resize(source + 1, false);
  auto shard = caf::actor_cast<profile_shard_actor>(sender);
  if (!shard || st.users.k() == 0 || shard.node() == self->node()) {
    st.seeded[source] = shard != nullptr;  // a local shard: recovery covered it
    return;
  }
  st.seeded[source] = true;
  ++st.seeds_pending;
  timed_request<engine::item_delta_batch>(
    self, st.deadlines, shard,
    [self, source](engine::item_delta_batch& seed) {
      auto& s = self->state;
      const auto& model = *s.model;
      s.users.apply(seed, [&model](engine::key_t item) { return model.owns(item); });
      --s.seeds_pending;
      spdlog::info("item shard {}: profile shard {} seeded {} recent-user entries", s.index,
                   source, seed.size());
      release_flushes(s);
    },
    [self, source](caf::error& err) {
      auto& s = self->state;
      s.seeded[source] = false;
      --s.seeds_pending;
      spdlog::warn("item shard {}: the recent users of profile shard {} could not be fetched: "
                   "{}; asked again at its next delta batch", s.index, source,
                   self->system().render(err));
      release_flushes(s);
    },
    seed_atom::value, st.index, st.count);
}

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

void apply_resync(item_shard_state& st, std::uint32_t source, const resync_reply& r);

// Applies a metadata operation to the model; what the model says.
bool apply_meta_op(item_shard_state& st, const meta_op& x) {
  switch (x.kind) {
    case meta_op::set:
      return st.model->set_meta(x.meta);
    case meta_op::remove:
      return st.model->remove(x.id);
    default:
      return true;  // a marker
  }
}

// held.front(), a metadata operation, applied and answered, or (a gap)
// kept waiting for the resync it asks for; a duplicate answers true.
void take_meta_front(self_ptr self) {
  auto& st = self->state;
  auto op = std::move(st.held.front());
  st.held.pop_front();
  const auto& x = op.op;
  if (x.seq == 0) {  // a writer without a log: no stream to check
    op.meta_rp.deliver(apply_meta_op(st, x));
    return;
  }
  st.meta_sender = op.sender;
  switch (st.streams.judge(st.meta_stream, x.prev, x.seq)) {
    case engine::delta_verdict::apply:
      st.streams.advance(st.meta_stream, x.seq);
      op.meta_rp.deliver(apply_meta_op(st, x));
      return;
    case engine::delta_verdict::duplicate:
      if (x.kind != meta_op::marker)
        ++st.duplicates;
      op.meta_rp.deliver(true);
      return;
    case engine::delta_verdict::gap:
      ++st.gaps;
      st.meta_waiting.emplace_back(x.seq, op.meta_rp);
      ask_meta_resync(self, op.sender);
      return;
  }
}

// Answers the operations waiting for a resync that failed.
void fail_meta_waiting(item_shard_state& st, const caf::error& err) {
  auto waiting = std::move(st.meta_waiting);
  st.meta_waiting.clear();
  for (auto& w : waiting)
    w.second.deliver(err);
}

// The operations a resync of the metadata stream brought, applied in order
// (those applied meanwhile are skipped); the stream is then applied up to
// r.upto. Waiting operations it covers are answered; if some lie beyond
// (sent while it was read), the stream is asked again.
void apply_meta_resync(self_ptr self, const meta_resync_reply& r) {
  auto& st = self->state;
  const auto s = st.meta_stream;
  for (const auto& x : r.ops)
    if (x.seq > st.streams.applied(s)) {
      apply_meta_op(st, x);
      st.streams.advance(s, x.seq);
    }
  st.streams.advance(s, r.upto);
  st.streams.set_resyncing(s, false);
  ++st.resyncs;
  spdlog::info("item shard {}: resync of the item metadata stream applied {} operations; it is "
               "applied up to seq {}", st.index, r.ops.size(), st.streams.applied(s));
  auto waiting = std::move(st.meta_waiting);
  st.meta_waiting.clear();
  for (auto& w : waiting)
    if (w.first <= st.streams.applied(s))
      w.second.deliver(true);
    else
      st.meta_waiting.push_back(std::move(w));
  if (!st.meta_waiting.empty())
    ask_meta_resync(self, st.meta_sender);
  release_flushes(st);
}

void on_meta_resync(self_ptr self, meta_resync_reply& r) {
  // In turn behind what is held: a delta batch may be half applied, and no
  // operation is applied while a snapshot is serialized.
  item_shard_state::held_op op;
  op.kind = item_shard_state::held_op::meta_resync;
  op.meta_reply = std::move(r);
  self->state.held.push_back(std::move(op));
  drain(self);
}

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

// The batches a resync brought, applied in order (those applied meanwhile
// are skipped); the stream is then applied up to r.upto.
void apply_resync(item_shard_state& st, std::uint32_t source, const resync_reply& r) {
  for (const auto& b : r.batches)
    if (b.seq > st.streams.applied(source))
      apply(st, b);
  st.streams.advance(source, r.upto);
  st.streams.set_resyncing(source, false);
  ++st.resyncs;
  spdlog::info("item shard {}: resync of profile shard {} applied {} batches; its stream is "
               "applied up to seq {}", st.index, source, r.batches.size(), r.upto);
  release_flushes(st);
}

void on_resync(self_ptr self, std::uint32_t source, resync_reply& r) {
  // In turn behind the batches held: one of them may be half applied.
  item_shard_state::held_op op;
  op.kind = item_shard_state::held_op::resync;
  op.batch.source = source;
  op.reply = std::move(r);
  self->state.held.push_back(std::move(op));
  drain(self);
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
