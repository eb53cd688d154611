#include "actors/item_writer.hpp"

#include <spdlog/spdlog.h>

#include "storage/codec.hpp"

namespace rtrec {

namespace {

using self_ptr = item_writer_actor::stateful_pointer<item_writer_state>;
using state = item_writer_state;

void start_next(self_ptr self);

// A running op is answered: start what may start now.
void finish(self_ptr self) {
  auto& st = self->state;
  --st.running;
  if (st.running == 0)
    st.alone = false;
  start_next(self);
}

// Sends xs to every shard of `items` but the null ones (unreachable:
// their reply stays a default Reply); `done` gets the replies in shard
// order, or `fail` the first error (never both).
template <class Reply, class Done, class Fail, class... Ts>
void to_every_shard(self_ptr self, const std::vector<item_shard_actor>& items, Done done,
                    Fail fail, const Ts&... xs) {
  struct gather {
    std::vector<Reply> got;
    std::size_t left = 0;
    bool failed = false;
  };
  auto g = std::make_shared<gather>();
  g->got.resize(items.size());
  for (const auto& shard : items)
    g->left += shard ? 1 : 0;
  if (g->left == 0) {
    done(std::move(g->got));
    return;
  }
  for (std::size_t m = 0; m < items.size(); ++m)
    if (items[m])
      timed_request<Reply>(
        self, self->state.deadlines, items[m],
        [=](Reply& r) mutable {
          g->got[m] = std::move(r);
          if (--g->left == 0 && !g->failed)
            done(std::move(g->got));
        },
        [=](caf::error& err) mutable {
          if (!g->failed) {
            g->failed = true;
            fail(err);
          }
        },
        xs...);
}

// Appends a record to the metadata stream of the log and runs `then` once it
// is durable ("") or failed (why), with the record's seq; at once with "" and
// seq 0 without a log (the item shards then check no stream).
void log_then(self_ptr self, storage::record_kind kind, std::string payload,
              std::function<void(const std::string&, std::uint64_t)> then) {
  auto& st = self->state;
  if (!st.wal) {
    then({}, 0);
    return;
  }
  const auto seq = ++st.meta_seq;
  st.on_logged.emplace(seq,
                       [then = std::move(then), seq](const std::string& err) { then(err, seq); });
  auto me = caf::actor_cast<item_writer_actor>(self);
  st.wal->append({kind, storage::meta_stream, seq, st.clock(), std::move(payload)},
                 [me, seq](const std::string& err) {
                   caf::anon_send(me, durable_atom::value, seq, err);
                 });
}

caf::error not_logged(const std::string& why) {
  return caf::make_error(error_code::shard_unavailable,
                         "item write not logged: " + why + " (nothing was applied; retry)");
}

// The next operation of the metadata stream, logged as `seq` (0: no log).
meta_op next_op(self_ptr self, meta_op op, std::uint64_t seq) {
  auto& st = self->state;
  if (seq != 0) {
    op.seq = seq;
    op.prev = st.meta_sent;
    st.meta_sent = seq;
  }
  return op;
}

// Sends `op` to every shard of `items` (noting which handle was told), then
// `done` gets their answers in shard order, or `fail` the first error.
template <class Done, class Fail>
void to_every_shard_op(self_ptr self, const std::vector<item_shard_actor>& items, meta_op op,
                       Done done, Fail fail) {
  auto& told = self->state.told;
  told.resize(items.size());
  for (std::size_t m = 0; m < items.size(); ++m)
    told[m] = items[m].address();
  to_every_shard<bool>(self, items, std::move(done), std::move(fail), op);
}

// Logs `meta`, applies it on every shard, then answers through `answer`
// (true unless a shard saw an id collision) or `fail`.
template <class Answer, class Fail>
void write_meta(self_ptr self, std::vector<item_shard_actor> items, engine::item_meta meta,
                Answer answer, Fail fail) {
  std::string payload;
  storage::encode_item_meta(meta, payload);
  log_then(self, storage::record_kind::item_meta, std::move(payload),
           [=](const std::string& err, std::uint64_t seq) mutable {
             if (!err.empty())
               return fail(not_logged(err));
             meta_op op;
             op.kind = meta_op::set;
             op.meta = meta;
             to_every_shard_op(
               self, items, next_op(self, std::move(op), seq),
               [=](std::vector<bool> all) mutable {
                 bool ok = true;  // no reachable shard saw an id collision
                 for (std::size_t m = 0; m < all.size(); ++m)
                   ok = ok && (all[m] || !items[m]);
                 answer(ok, meta);
               },
               fail);
           });
}

void run(self_ptr self, state::set_op& op, std::vector<item_shard_actor> items) {
  auto rp = op.rp;
  write_meta(
    self, std::move(items), op.meta,
    [=](bool ok, const engine::item_meta&) mutable {
      rp.deliver(ok);
      finish(self);
    },
    [=](const caf::error& err) mutable {
      rp.deliver(err);
      finish(self);
    });
}

void run(self_ptr self, state::update_op& op, std::vector<item_shard_actor> items) {
  auto rp = op.rp;
  auto fail = [=](const caf::error& err) mutable {
    rp.deliver(err);
    finish(self);
  };
  // Every item shard holds the same metadata: read it from the meta
  // writer's own item shard 0.
  const auto first = items.front();
  timed_request<engine::item_meta>(
    self, self->state.deadlines, first,
    [=, patch = op.patch, id = op.id](engine::item_meta& meta) mutable {
      patch.apply(meta);
      meta.id = id;
      write_meta(
        self, items, meta,
        [=](bool, const engine::item_meta& written) mutable {
          rp.deliver(written);
          finish(self);
        },
        fail);
    },
    [=](caf::error& err) mutable { fail(err); }, item_atom::value, op.id);
}

void run(self_ptr self, state::remove_op& op, std::vector<item_shard_actor> items) {
  auto rp = op.rp;
  auto fail = [=](const caf::error& err) mutable {
    rp.deliver(err);
    finish(self);
  };
  const auto id = op.id;
  log_then(self, storage::record_kind::item_remove, id,
           [=](const std::string& err, std::uint64_t seq) mutable {
             if (!err.empty())
               return fail(not_logged(err));
             meta_op x;
             x.kind = meta_op::remove;
             x.id = id;
             to_every_shard_op(
               self, items, next_op(self, std::move(x), seq),
               [=](std::vector<bool> all) mutable {
                 bool any = false;
                 for (bool b : all)
                   any = any || b;
                 rp.deliver(any);
                 finish(self);
               },
               fail);
           });
}

// Snapshots of the item shards this node hosts; another node's shard gets
// an empty entry (the checkpointer writes an empty shard for it).
void run(self_ptr self, state::snapshot_op& op, std::vector<item_shard_actor>) {
  auto rp = op.rp;
  const auto& all = self->state.local;
  std::vector<item_shard_actor> here;
  std::vector<std::size_t> where;
  for (std::size_t m = 0; m < all.size(); ++m)
    if (all[m]) {
      here.push_back(all[m]);
      where.push_back(m);
    }
  if (here.empty()) {
    rp.deliver(item_snapshots{std::vector<shard_snapshot>(all.size()), self->state.meta_seq});
    finish(self);
    return;
  }
  to_every_shard<shard_snapshot>(
    self, here,
    [=](std::vector<shard_snapshot> got) mutable {
      std::vector<shard_snapshot> shards(all.size());
      for (std::size_t k = 0; k < got.size(); ++k)
        shards[where[k]] = std::move(got[k]);
      rp.deliver(item_snapshots{std::move(shards), self->state.meta_seq});
      finish(self);
    },
    [=](const caf::error& err) mutable {
      rp.deliver(err);
      finish(self);
    },
    snapshot_atom::value);
}

// Starts `op`: a snapshot of this node's shards, or a write to the item
// shards.
void start(self_ptr self, state::op& op) {
  auto& st = self->state;
  if (auto* snap = std::get_if<state::snapshot_op>(&op)) {
    run(self, *snap, {});  // only this node's shards
    return;
  }
  // With a log, a write goes to the item shards that are reachable: one
  // that is not gets it by a resync of the stream once it is back (docs/
  // replication.md, "Stage 1b"). Without one there is no resync: every
  // item shard must be reachable.
  auto items = st.wal ? caf::expected<std::vector<item_shard_actor>>{st.router.items()}
                      : st.router.all_items();
  if (!items) {
    std::visit([&](auto& x) { x.rp.deliver(items.error()); }, op);
    finish(self);
    return;
  }
  std::visit([&](auto& x) { run(self, x, std::move(*items)); }, op);
}

// Starts the ops at the front of the queue that may start now: sets and
// removes at once, a patch or a snapshot once nothing else runs (and
// nothing after it until it is answered). Not reentrant: an op answered
// while it runs (finish()) leaves the rest to its loop.
void start_next(self_ptr self) {
  auto& st = self->state;
  if (st.starting)
    return;
  st.starting = true;
  while (!st.queue.empty() && !st.alone) {
    const bool alone = std::holds_alternative<state::update_op>(st.queue.front())
                       || std::holds_alternative<state::snapshot_op>(st.queue.front());
    if (alone && st.running > 0)
      break;  // once the writes before it are answered
    auto op = std::move(st.queue.front());
    st.queue.pop_front();
    ++st.running;
    st.alone = alone;
    start(self, op);
  }
  st.starting = false;
}

template <class Op, class T>
caf::typed_response_promise<T> enqueue(self_ptr self, Op op) {
  auto rp = self->make_response_promise<T>();
  op.rp = rp;
  self->state.queue.emplace_back(std::move(op));
  start_next(self);
  return rp;
}

// A write on a node that is not the meta writer's: passed on to the meta
// writer (docs/replication.md, "Stage 1b"), answered with its answer.
template <class T, class... Ts>
caf::typed_response_promise<T> forward(self_ptr self, const Ts&... xs) {
  auto rp = self->make_response_promise<T>();
  auto& st = self->state;
  if (!st.forward_to) {
    rp.deliver(caf::make_error(error_code::shard_unavailable,
                               "item metadata is written on the node hosting item shard 0, "
                               "which is unreachable; retry once it is back"));
    return rp;
  }
  timed_request<T>(
    self, st.deadlines, st.forward_to, [rp](T& x) mutable { rp.deliver(std::move(x)); },
    [rp](caf::error& err) mutable { rp.deliver(std::move(err)); }, xs...);
  return rp;
}

// New handles of item shards (their node came back): each gets a marker,
// so that it asks for the operations it missed without waiting for the
// next write.
void send_markers(self_ptr self) {
  auto& st = self->state;
  if (!st.meta_writer || st.meta_sent == 0)
    return;
  const auto& items = st.router.items();
  st.told.resize(items.size());
  meta_op marker;
  marker.seq = marker.prev = st.meta_sent;
  for (std::size_t m = 0; m < items.size(); ++m) {
    const auto& shard = items[m];
    if (!shard || st.told[m] == shard.address())
      continue;
    st.told[m] = shard.address();
    timed_request<bool>(
      self, st.deadlines, shard, [](bool) {},
      [self, m](caf::error& err) {
        spdlog::debug("item writer: marker to item shard {} failed: {}", m,
                      self->system().render(err));
      },
      marker);
  }
}

}  // namespace

item_writer_actor::behavior_type
item_writer(item_writer_actor::stateful_pointer<item_writer_state> self, topology_config cfg,
            std::vector<item_shard_actor> items, std::uint64_t meta_seq, topology_context ctx) {
  auto& init = self->state;
  init.local = items;
  init.router = shard_router{{}, std::move(items)};
  init.wal = ctx.wal;
  init.clock = ctx.clock ? ctx.clock : wall_clock_fn{system_wall_ms};
  init.meta_seq = init.meta_logged = init.meta_sent = meta_seq;
  init.meta_writer = init.local.empty() || init.local.front() != nullptr;
  init.data = ctx.data;
  init.deadlines.set_timeout(cfg.request_timeout);
  return {
    [=](item_atom, engine::item_meta& meta) {
      if (!self->state.meta_writer)
        return forward<bool>(self, item_atom::value, meta);
      return enqueue<state::set_op, bool>(self, state::set_op{std::move(meta), {}});
    },
    [=](item_atom, std::string& id, engine::item_patch& patch) {
      if (!self->state.meta_writer)
        return forward<engine::item_meta>(self, item_atom::value, id, patch);
      return enqueue<state::update_op, engine::item_meta>(
        self, state::update_op{std::move(id), std::move(patch), {}});
    },
    [=](remove_atom, std::string& id) {
      if (!self->state.meta_writer)
        return forward<bool>(self, remove_atom::value, id);
      return enqueue<state::remove_op, bool>(self, state::remove_op{std::move(id), {}});
    },
    [=](resync_atom, std::uint64_t from) { return start_meta_resync(self, from); },
    [=](resync_atom, std::uint64_t token, meta_resync_reply& r, const std::string& err) {
      finish_meta_resync(self, token, r, err);
    },
    [=](snapshot_atom) {
      return enqueue<state::snapshot_op, item_snapshots>(self, state::snapshot_op{});
    },
    [=](durable_atom, std::uint64_t seq, const std::string& err) {
      auto& st = self->state;
      if (err.empty())
        st.meta_logged = std::max(st.meta_logged, seq);
      auto it = st.on_logged.find(seq);
      if (it == st.on_logged.end()) {
        spdlog::critical("item writer: the log answered record {} with no write waiting; "
                         "ignored (this is a bug, please report it)",
                         seq);
        return;
      }
      auto then = std::move(it->second);
      st.on_logged.erase(it);
      then(err);
    },
    [=](directory_atom, const shard_directory& d) {
      auto& st = self->state;
      st.router.update(d, "item writer");
      if (!st.meta_writer)
        st.forward_to = caf::actor_cast<item_writer_actor>(d.meta_writer);
      send_markers(self);
    },
    [=](tick_atom) { self->state.deadlines.on_tick(self); },
  };
}

}  // namespace rtrec
