#include "actors/profile_shard.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "actors/util.hpp"
#include "engine/idempotent_apply.hpp"
#include "engine/recent_users.hpp"
#include "storage/codec.hpp"

namespace rtrec {

namespace {

using self_ptr = profile_shard_actor::stateful_pointer<profile_shard_state>;
using pending = profile_shard_state::pending;

void release_deferred(self_ptr self) {
  auto& st = self->state;
  while (!st.deferred.empty() && st.deltas_in_flight < st.max_in_flight) {
    auto& [rp, ack] = st.deferred.front();
    rp.deliver(std::move(ack));
    st.deferred.pop_front();
  }
}

// Sends `msg` to item shard m (timed_request), or counts it lost when the
// shard's node is unreachable (the item shard finds the gap later).
void deliver_delta(self_ptr self, std::uint32_t m, delta_batch msg) {
  auto& st = self->state;
  const auto& item = st.router.items()[m];
  const auto seq = msg.seq;
  if (!item) {
    ++st.delta_failures;
    spdlog::debug("profile shard {}: item shard {} is unreachable; delta batch {} dropped "
                  "for it (it resyncs when it is back)", st.index, m, seq);
    return;
  }
  ++st.deltas_in_flight;
  auto done = [self](std::uint64_t) {
    --self->state.deltas_in_flight;
    release_deferred(self);
  };
  auto failed = [self, m, seq](caf::error& err) {
    auto& s = self->state;
    --s.deltas_in_flight;
    ++s.delta_failures;
    spdlog::error("profile shard {}: item shard {} did not apply delta batch {}: {}; it "
                  "resyncs at the next batch (check the item shard's health)",
                  s.index, m, seq, self->system().render(err));
    release_deferred(self);
  };
  timed_request<std::uint64_t>(self, st.deadlines, item, done, failed, std::move(msg));
}

// Tells item shard m where this shard's delta stream is (an empty batch
// with seq == prev): one that is behind asks for a resync.
void send_marker(self_ptr self, std::uint32_t m) {
  auto& st = self->state;
  deliver_delta(self, m, delta_batch{{}, st.index, st.last_delta_seq, 0, st.last_delta_seq});
}

// Takes a new cluster directory; item shards whose handle changed (their
// node came back, or restarted) get a marker.
void on_directory(self_ptr self, const shard_directory& d) {
  auto& st = self->state;
  const auto before = st.router.items();
  st.router.update(d, "profile shard");
  const auto& after = st.router.items();
  for (std::uint32_t m = 0; m < after.size(); ++m)
    if (after[m] && (m >= before.size() || before[m] != after[m]))
      send_marker(self, m);
}

// Applies a batch (logged or not) and acknowledges it.
void apply_batch(self_ptr self, shard_batch& x, std::uint64_t seq, std::int64_t time_ms,
                 caf::typed_response_promise<ingest_result>& rp) {
  auto& st = self->state;
  ingest_result ack;
  engine::item_delta_batch delta;
  engine::batch_outcome out;
  engine::apply_idempotent(*st.store, *st.window, x.events, time_ms, out, delta);
  st.applied_seq = seq;
  for (std::size_t k = 0; k < x.events.size(); ++k) {
    auto r = out.results[k];
    if (r == engine::reject_reason::none) {
      ++ack.accepted;
    } else {
      ++st.rejected;
      ack.rejected.push_back({k < x.index.size() ? x.index[k] : static_cast<std::uint32_t>(k), r});
    }
  }
  ack.duplicates = out.duplicates;
  st.duplicates += out.duplicates;
  if (!delta.empty() && st.router.item_count() > 0)
    send_delta(self, std::move(delta), seq);
  if (st.deltas_in_flight < st.max_in_flight && st.deferred.empty()) {
    rp.deliver(std::move(ack));
  } else {
    ++st.acks_deferred_total;
    st.deferred.emplace_back(rp, std::move(ack));
  }
}

// Refuses a batch the log could not store, or a replica no longer primary
// cannot acknowledge: nothing of it is applied (here, now).
void refuse_batch(self_ptr self, pending& p, const std::string& why,
                  delivery_failure failure = delivery_failure::storage_failed) {
  auto& st = self->state;
  ingest_result ack;
  for (std::size_t k = 0; k < p.events.events.size(); ++k)
    ack.failed.push_back({k < p.events.index.size() ? p.events.index[k]
                                                    : static_cast<std::uint32_t>(k),
                          failure});
  st.rejected += p.events.events.size();
  spdlog::warn("profile shard {}: {} events not applied: {}", st.index, p.events.events.size(),
               why);
  p.ack_rp.deliver(std::move(ack));
}

// Answers once every delta batch sent so far is applied by every reachable
// item shard (flush_atom to each).
void run_flush(self_ptr self, caf::typed_response_promise<std::uint64_t> rp) {
  auto& st = self->state;
  const auto applied = st.store->events_applied();
  const auto& items = st.router.items();
  if (items.empty()) {
    rp.deliver(applied);
    return;
  }
  auto left = std::make_shared<std::size_t>(0);
  for (auto& item : items)
    if (item)
      ++*left;
  if (*left == 0) {
    rp.deliver(caf::make_error(error_code::shard_unavailable,
                               "flush: every item shard is on an unreachable node"));
    return;
  }
  auto failed = std::make_shared<bool>(false);
  for (auto& item : items) {
    if (!item)
      continue;
    timed_request<std::uint64_t>(
      self, st.deadlines, item,
      [=](std::uint64_t) mutable {
        if (--*left == 0 && !*failed)
          rp.deliver(applied);
      },
      [=](caf::error& err) mutable {
        if (!*failed) {
          *failed = true;
          rp.deliver(caf::make_error(error_code::shard_unavailable,
                                     "flush: an item shard did not answer: "
                                       + self->system().render(err)));
        }
      },
      flush_atom::value);
  }
}

// Runs flushes whose predecessors are all done.
void run_ready_flushes(self_ptr self) {
  auto& q = self->state.log_pending;
  while (!q.empty() && q.front().kind == pending::flush) {
    auto rp = q.front().flush_rp;
    q.pop_front();
    run_flush(self, rp);
  }
}

// Appends a record to the log; the writer thread answers with durable_atom.
// A replica appends it to its replicated log instead (seq is the one
// replica_accepts() let the caller take), which ships it; it is applied
// once committed (replica_changed).
void log_record(self_ptr self, storage::record_kind kind, std::uint64_t seq,
                std::int64_t time_ms, std::string payload) {
  auto& st = self->state;
  if (st.replica) {
    const auto got = st.replica->append({kind, time_ms, std::move(payload)});
    if (got != seq)
      spdlog::critical("profile shard {}: its replica took record {} as {}; this is a bug, "
                       "please report it", st.index, seq, got ? *got : 0);
    replica_changed(self);
    return;
  }
  storage::log_record r{kind, st.index, seq, time_ms, std::move(payload)};
  auto me = caf::actor_cast<profile_shard_actor>(self);
  st.wal->append(std::move(r), [me, seq](const std::string& err) {
    caf::anon_send(me, durable_atom::value, seq, err);
  });
}

void deliver(caf::typed_response_promise<bool>& rp, caf::expected<bool> r) {
  if (r)
    rp.deliver(*r);
  else
    rp.deliver(std::move(r.error()));
}

// Applies a logged (or unlogged) forget or upsert: forget answers whether
// the user was known, upsert whether it was created (an id collision is an
// error).
caf::expected<bool> apply_user_write(profile_shard_state& st,
                                   const profile_shard_state::pending& p) {
  if (p.kind == profile_shard_state::pending::forget)
    return st.store->erase(p.user);
  using outcome = engine::profile_store::upsert_outcome;
  const auto r = st.store->upsert(p.user, p.patch);
  if (r == outcome::id_collision)
    return caf::make_error(error_code::invalid_request,
                           "user id " + p.user
                             + " hashes to the key of another user; choose another id");
  if (r == outcome::not_found)
    return caf::make_error(error_code::not_found, "unknown user " + p.user);
  return r == outcome::created;
}

}  // namespace

// Sends the item side of log record `seq` to every item shard, chained to
// the stream's previous batch, and keeps a copy for resyncs under way.
void send_delta(self_ptr self, engine::item_delta_batch&& delta, std::uint64_t seq) {
  auto& st = self->state;
  delta_batch msg{std::move(delta), st.index, seq, steady_ns(), st.last_delta_seq};
  st.last_delta_seq = seq;
  retain_for_resyncs(st, msg);
  const auto n = st.router.item_count();
  // Every item shard gets a copy but the last, which gets the original.
  for (std::uint32_t m = 0; m < n; ++m)
    deliver_delta(self, m, m + 1 == n ? std::move(msg) : msg);
}

// A log record is durable (err empty) or failed: apply or refuse it.
void apply_logged(self_ptr self, std::uint64_t seq, const std::string& err) {
  auto& st = self->state;
  run_ready_flushes(self);
  if (st.log_pending.empty() || st.log_pending.front().seq != seq) {
    spdlog::critical("profile shard {}: the log answered record {} out of order; it is "
                     "ignored (this is a bug, please report it)",
                     st.index, seq);
    return;
  }
  auto p = std::move(st.log_pending.front());
  st.log_pending.pop_front();
  if (p.kind == pending::batch) {
    if (err.empty())
      apply_batch(self, p.events, p.seq, p.time_ms, p.ack_rp);
    else
      refuse_batch(self, p, err);
  } else if (p.kind == pending::unfeedback) {
    if (err.empty()) {
      st.applied_seq = p.seq;
      p.deleted_rp.deliver(static_cast<std::uint64_t>(st.store->delete_feedback(p.del)));
    } else {
      p.deleted_rp.deliver(caf::make_error(error_code::shard_unavailable,
                                           "feedback deletion for " + p.del.user
                                             + " was not logged: " + err));
    }
  } else if (p.kind == pending::forget || p.kind == pending::upsert) {
    if (err.empty()) {
      st.applied_seq = p.seq;
      deliver(p.user_rp, apply_user_write(st, p));
    } else {
      p.user_rp.deliver(caf::make_error(error_code::shard_unavailable,
                                        std::string{p.kind == pending::forget ? "forget " : "user "}
                                          + p.user + " was not logged: " + err));
    }
  }
  run_ready_flushes(self);
}

void refuse_pending(self_ptr self, delivery_failure failure, const std::string& why) {
  auto& st = self->state;
  while (!st.log_pending.empty()) {
    run_ready_flushes(self);
    if (st.log_pending.empty())
      break;
    auto p = std::move(st.log_pending.front());
    st.log_pending.pop_front();
    switch (p.kind) {
      case pending::batch:
        refuse_batch(self, p, why, failure);
        break;
      case pending::unfeedback:
        p.deleted_rp.deliver(caf::make_error(error_code::shard_unavailable,
                                             "feedback deletion for " + p.del.user +
                                               " not applied: " + why));
        break;
      case pending::forget:
      case pending::upsert:
        p.user_rp.deliver(caf::make_error(
          error_code::shard_unavailable,
          std::string{p.kind == pending::forget ? "forget " : "user "} + p.user +
            " not applied: " + why));
        break;
      case pending::flush:
        break;  // run by run_ready_flushes
    }
  }
}

namespace {

// A batch from an ingestor: applied at once without a log; else logged
// first and applied once durable (apply_logged), in arrival order.
caf::typed_response_promise<ingest_result> on_batch(self_ptr self, shard_batch& x) {
  auto rp = self->make_response_promise<ingest_result>();
  auto& st = self->state;
  if (std::string why; !replica_accepts(st, why)) {
    pending p;
    p.events = std::move(x);
    p.ack_rp = rp;
    refuse_batch(self, p, why, delivery_failure::shard_unavailable);
    return rp;
  }
  const auto seq = ++st.seq;
  const auto now = st.clock();
  if (!st.wal) {
    apply_batch(self, x, seq, now, rp);
    return rp;
  }
  std::string payload;
  storage::encode_events(x.events, payload);
  pending p;
  p.kind = pending::batch;
  p.seq = seq;
  p.time_ms = now;
  p.events = std::move(x);
  p.ack_rp = rp;
  st.log_pending.push_back(std::move(p));
  log_record(self, storage::record_kind::events, seq, now, std::move(payload));
  return rp;
}

// Forgets a user (kind forget) or creates it and patches its metadata
// (upsert): at once without a log, else once the record is durable.
caf::typed_response_promise<bool> on_user_write(self_ptr self, pending::kind_t kind,
                                                const std::string& user,
                                                engine::user_patch patch) {
  auto rp = self->make_response_promise<bool>();
  auto& st = self->state;
  if (std::string why; !replica_accepts(st, why)) {
    rp.deliver(caf::make_error(error_code::shard_unavailable, user + ": " + why));
    return rp;
  }
  pending p;
  p.kind = kind;
  p.seq = ++st.seq;
  p.user = user;
  p.patch = std::move(patch);
  if (!st.wal) {
    st.applied_seq = p.seq;
    deliver(rp, apply_user_write(st, p));
    return rp;
  }
  std::string payload;
  storage::record_kind record = storage::record_kind::forget_user;
  if (kind == pending::forget) {
    payload = user;
  } else {
    record = storage::record_kind::user_upsert;
    storage::encode_user_upsert(user, p.patch, payload);
  }
  const auto seq = p.seq;
  p.user_rp = rp;
  st.log_pending.push_back(std::move(p));
  log_record(self, record, seq, st.clock(), std::move(payload));
  return rp;
}

// Deletes feedback records: at once without a log, else once the deletion
// is durable (recovery replays it).
caf::typed_response_promise<std::uint64_t> on_feedback_delete(self_ptr self,
                                                              engine::feedback_delete d) {
  auto rp = self->make_response_promise<std::uint64_t>();
  auto& st = self->state;
  if (std::string why; !replica_accepts(st, why)) {
    rp.deliver(caf::make_error(error_code::shard_unavailable, d.user + ": " + why));
    return rp;
  }
  const auto seq = ++st.seq;
  if (!st.wal) {
    st.applied_seq = seq;
    rp.deliver(static_cast<std::uint64_t>(st.store->delete_feedback(d)));
    return rp;
  }
  std::string payload;
  storage::encode_feedback_delete(d, payload);
  pending p;
  p.kind = pending::unfeedback;
  p.seq = seq;
  p.del = std::move(d);
  p.deleted_rp = rp;
  st.log_pending.push_back(std::move(p));
  log_record(self, storage::record_kind::feedback_delete, seq, st.clock(), std::move(payload));
  return rp;
}

// A flush runs once every record logged before it is applied.
caf::typed_response_promise<std::uint64_t> on_flush(self_ptr self) {
  auto rp = self->make_response_promise<std::uint64_t>();
  auto& st = self->state;
  if (st.log_pending.empty()) {
    run_flush(self, rp);
  } else {
    pending p;
    p.kind = pending::flush;
    p.flush_rp = rp;
    st.log_pending.push_back(std::move(p));
  }
  return rp;
}

// The shard's state as a snapshot: serialized in place without a log (no
// writes wait), else by a thread while the shard answers queries and holds
// back durable notices (finish_snapshot releases them).
caf::typed_response_promise<shard_snapshot> start_snapshot(self_ptr self) {
  auto& st = self->state;
  auto rp = self->make_response_promise<shard_snapshot>();
  const auto t0 = steady_ns();
  if (st.snapshotting) {
    rp.deliver(caf::make_error(error_code::overloaded, "a snapshot is already running"));
    return rp;
  }
  auto take = [](std::uint64_t seq, const engine::profile_store& store,
                 const engine::dedup_window& window) {
    shard_snapshot out;
    out.seq = seq;
    out.bytes = storage::encode_profile_snapshot(seq, store, window);
    out.events = store.events_applied();
    out.count = store.users();
    return out;
  };
  if (st.replica || st.restored) {
    // A replica's checkpoint needs its log's epochs and a release of its
    // replicated log (not built): it checkpoints nothing, so recovery
    // replays its whole log and nothing of it is released.
    auto out = take(0, engine::profile_store{st.store->config()}, engine::dedup_window{0, 0});
    out.pause_ns = out.hold_ns = static_cast<std::uint64_t>(steady_ns() - t0);
    rp.deliver(std::move(out));
    return rp;
  }
  if (!st.wal) {
    auto out = take(st.applied_seq, *st.store, *st.window);
    out.pause_ns = out.hold_ns = static_cast<std::uint64_t>(steady_ns() - t0);
    rp.deliver(std::move(out));
    return rp;
  }
  st.snapshotting = true;
  st.snapshot_rp = rp;
  auto me = caf::actor_cast<profile_shard_actor>(self);
  std::thread([me, take, store = st.store, window = st.window, seq = st.applied_seq, t0] {
    auto out = take(seq, *store, *window);
    out.hold_ns = static_cast<std::uint64_t>(steady_ns() - t0);
    caf::anon_send(me, snapshot_atom::value, std::move(out));
  }).detach();
  st.snapshot_pause_ns = static_cast<std::uint64_t>(steady_ns() - t0);
  return rp;
}

// The serializer thread is done: answer, then apply what was held back.
void finish_snapshot(self_ptr self, shard_snapshot& out) {
  auto& st = self->state;
  st.snapshotting = false;
  out.pause_ns = st.snapshot_pause_ns;  // queries were answered meanwhile
  st.snapshot_rp.deliver(std::move(out));
  auto held = std::move(st.held);
  st.held.clear();
  for (auto& [seq, err] : held)
    apply_logged(self, seq, err);
  if (st.replica)
    replica_changed(self);  // applies what was committed meanwhile
}

// The seq of the last delta batch recovered shard `index` sent: the newest
// its stream left on a local item shard (recovery replays the stream into
// them), or, with none local, its last log seq (at most one resync too many).
std::uint64_t last_delta_seq(const storage::recovered_state& rec, std::uint32_t index,
                             const std::vector<bool>& local_items) {
  std::uint64_t out = 0;
  bool any = false;
  for (std::uint32_t m = 0; m < rec.item_applied.size(); ++m)
    if (is_local(local_items, m) && index < rec.item_applied[m].size()) {
      out = std::max(out, rec.item_applied[m][index]);
      any = true;
    }
  return any ? out : rec.profile_seq[index];
}

shard_stats stats_of(const profile_shard_state& st) {
  shard_stats s;
  s.shard = st.index;
  s.users = st.store->users();
  s.events_applied = st.store->events_applied();
  s.rejected = st.rejected;
  s.memory_bytes = st.store->memory_bytes() + st.window->memory_bytes();
  s.deltas_in_flight = st.deltas_in_flight;
  s.acks_deferred = st.acks_deferred_total;
  s.delta_failures = st.delta_failures;
  s.duplicates = st.duplicates;
  s.log_pending = st.log_pending.size();
  s.dedup_ids = st.window->size();
  return s;
}

}  // namespace

profile_shard_actor::behavior_type
profile_shard(profile_shard_actor::stateful_pointer<profile_shard_state> self,
              topology_config cfg, std::uint32_t index, std::vector<item_shard_actor> items,
              topology_context ctx) {
  auto& init = self->state;
  auto& rec = ctx.recovered;
  if (rec && index < rec->profiles.size() && rec->profiles[index]) {
    init.store = std::move(rec->profiles[index]);
    init.window = std::move(rec->windows[index]);
    init.seq = init.applied_seq = rec->profile_seq[index];
    if (index < rec->replicas.size())
      init.restored = std::move(rec->replicas[index]);
    init.last_delta_seq = last_delta_seq(*rec, index, cfg.local_items);
  } else {
    init.store = std::make_unique<engine::profile_store>(cfg.model);
    init.window = std::make_unique<engine::dedup_window>(dedup_ids_per_shard(cfg),
                                                         cfg.dedup_age.count());
  }
  init.wal = ctx.wal;
  init.data = ctx.data;
  init.notices = ctx.replica_notices;
  init.resend_interval = std::chrono::duration_cast<caf::timespan>(cfg.replica_resend);
  init.lag_timeout = std::chrono::duration_cast<caf::timespan>(cfg.replica_lag_timeout);
  init.replicated = cfg.replicated_profiles;
  init.clock = ctx.clock ? ctx.clock : wall_clock_fn{system_wall_ms};
  init.router = shard_router{{}, std::move(items)};
  init.index = index;
  init.deadlines.set_timeout(cfg.request_timeout);
  init.max_in_flight = static_cast<std::uint64_t>(cfg.max_deltas_in_flight)
                       * std::max<std::size_t>(1, init.router.item_count());
  if (rec)  // item shards that missed batches while this shard was down catch up
    for (std::uint32_t m = 0; m < init.router.item_count(); ++m)
      if (init.router.items()[m])
        send_marker(self, m);
  return {
    [=](shard_batch& x) { return on_batch(self, x); },
    [=](durable_atom, std::uint64_t seq, const std::string& err) {
      auto& st = self->state;
      if (st.snapshotting)
        st.held.emplace_back(seq, err);
      else
        apply_logged(self, seq, err);
    },
    [=](profile_atom, const std::string& user) -> caf::result<engine::profile_view> {
      if (std::string why; !replica_serves(self->state, why))
        return caf::make_error(error_code::shard_unavailable, why);
      return self->state.store->view(user);
    },
    [=](recent_atom, const std::string& user) -> caf::result<user_interactions> {
      if (std::string why; !replica_serves(self->state, why))
        return caf::make_error(error_code::shard_unavailable, why);
      return user_interactions{self->state.store->recent(user)};
    },
    [=](forget_atom, const std::string& user) {
      return on_user_write(self, pending::forget, user, {});
    },
    [=](user_atom, const std::string& user, engine::user_patch& patch) {
      return on_user_write(self, pending::upsert, user, std::move(patch));
    },
    [=](user_atom, const std::string& user) -> caf::result<engine::user_record> {
      if (std::string why; !replica_serves(self->state, why))
        return caf::make_error(error_code::shard_unavailable, why);
      return self->state.store->record(user);
    },
    [=](users_atom, std::uint64_t from, std::uint32_t n) -> engine::user_page {
      return self->state.store->list(from, n);
    },
    [=](feedback_atom, const std::string& user,
        const engine::feedback_filter& f) -> caf::result<engine::feedback_page> {
      if (std::string why; !replica_serves(self->state, why))
        return caf::make_error(error_code::shard_unavailable, why);
      engine::feedback_page page;
      page.records = self->state.store->feedback(user, f);
      return page;
    },
    [=](feedback_atom, std::uint64_t slot, std::uint32_t seq, std::uint32_t n,
        const engine::feedback_filter& f) -> engine::feedback_page {
      return self->state.store->list_feedback(slot, seq, n, f, feedback_scan_users);
    },
    [=](feedback_atom, engine::feedback_delete& d) {
      return on_feedback_delete(self, std::move(d));
    },
    [=](names_atom, name_lookup& x) {
      x.names.clear();
      for (const auto k : x.keys)
        x.names.push_back(self->state.store->id_of(k));
      x.keys.clear();
      return std::move(x);
    },
    [=](seed_atom, std::uint32_t m, std::uint32_t count) {
      return engine::recent_users_seed(*self->state.store, m, count);
    },
    [=](flush_atom) { return on_flush(self); },
    [=](snapshot_atom) { return start_snapshot(self); },
    [=](snapshot_atom, shard_snapshot& out) { finish_snapshot(self, out); },
    [=](directory_atom, const shard_directory& d) { on_directory(self, d); },
    [=](resync_atom, std::uint64_t from) { return start_resync(self, from); },
    [=](resync_atom, std::uint64_t token, resync_reply& r, const std::string& err) {
      finish_resync(self, token, r, err);
    },
    [=](tick_atom) { self->state.deadlines.on_tick(self); },
    [=](stats_atom) { return stats_of(self->state); },
    [=](replica_config& c) { on_replica_config(self, c); },
    [=](replica_ship& m) { on_replica_ship(self, m); },
    [=](const replica_answer& m) { on_replica_answer(self, m); },
    [=](replica_atom, std::uint64_t written, const std::string& err) {
      on_replica_notice(self, written, err);
    },
    [=](replica_atom) { on_replica_resend(self); },
  };
}

}  // namespace rtrec
