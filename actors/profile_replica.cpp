// The replica path of a profile shard (docs/replication.md, "A profile
// shard as a replica"): a thin wrapper over storage::replica_stream.
//
//   primary:  write --append--> ship to followers --answers--> committed
//             --take_applicable--> apply_logged (apply, deltas, acknowledge)
//   follower: replica_ship --on_ship--> answer --durable--> answer again
//             --commit known--> apply (no deltas, nobody to acknowledge)
//   any:      replica_config (a chosen map's entry) --> adopt (fencing);
//             not primary any more --> its waiting writes are refused
//             (shard_unavailable): the clients retry with their event ids,
//             and the dedup window applies a retry of a committed write once.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "actors/profile_shard.hpp"
#include "storage/codec.hpp"
#include "storage/profile_replay.hpp"

namespace rtrec {

namespace {

using self_ptr = profile_shard_actor::stateful_pointer<profile_shard_state>;

// The handle of the replica on node `n`, null when unknown.
profile_shard_actor peer(const profile_shard_state& st, std::uint32_t n) {
  if (n >= st.peers.size() || !st.peers[n])
    return {};
  return caf::actor_cast<profile_shard_actor>(st.peers[n]);
}

void send_answer(self_ptr self, const engine::ship_answer& a, std::uint32_t to) {
  auto& st = self->state;
  if (auto p = peer(st, to))
    self->send(p, replica_answer{st.index, a});
}

// Applies a committed record this shard is not waiting for (a follower's,
// or a new primary's records of an earlier primary): no one to answer;
// deltas only from a primary (the item shards drop the ones they had:
// seq <= applied).
void apply_replicated(self_ptr self, std::uint64_t seq, const storage::replica_entry& e) {
  auto& st = self->state;
  storage::log_record r{e.kind, st.index, seq, e.time_ms, e.payload};
  engine::batch_outcome outcome;
  engine::item_delta_batch delta;
  try {
    storage::apply_profile_record(r, *st.store, *st.window, outcome, delta);
  } catch (const std::exception& ex) {
    // Decoded once already (replica_stream checks every entry it takes);
    // a payload that is not its kind's is counted, not fatal.
    ++st.bad_ships;
    spdlog::error("profile shard {}: replicated record {} does not apply ({}); skipped",
                  st.index, seq, ex.what());
  }
  st.applied_seq = seq;
  if (delta.empty())
    return;
  if (st.replica->log().primary() && st.router.item_count() > 0) {
    send_delta(self, std::move(delta), seq);
  } else {
    // A follower sends none, but keeps the chain its primary sends: as
    // primary later, its first batch's prev reveals to an item shard any
    // batch the old primary never sent (a gap, closed by a resync).
    st.last_delta_seq = seq;
  }
}

}  // namespace

bool replica_accepts(const profile_shard_state& st, std::string& why) {
  if (st.restored || (!st.replica && st.replicated)) {
    // Its log is a replica's, or will be: a write of its own would collide
    // with the replica's records.
    why = "profile shard " + std::to_string(st.index) + " is a replica waiting for its "
          "configuration (cluster map); retry";
    return false;
  }
  if (!st.replica)
    return true;
  if (!st.replica->failed().empty()) {
    why = st.replica->failed();
    return false;
  }
  if (!st.replica->ready()) {
    const auto& log = st.replica->log();
    why = "profile shard " + std::to_string(st.index) + " is not the primary here (map epoch " +
          std::to_string(log.map_epoch()) + (log.primary() ? ", not stored yet" : "") +
          "); retry";
    return false;
  }
  return true;
}

namespace {

// Sends `r` to the node's map keeper unless it was asked in this epoch
// since the last resend tick.
void ask_isr(self_ptr self, const engine::isr_request& r) {
  auto& st = self->state;
  auto& asked = st.isr_asked[{r.replica, r.join}];
  if (!st.keeper || asked == r.epoch)
    return;
  asked = r.epoch;
  spdlog::debug("profile shard {}: asking the controller to {} replica {} {} the in-sync set "
               "(map epoch {})",
               st.index, r.join ? "take" : "drop", r.replica, r.join ? "into" : "from", r.epoch);
  caf::anon_send(caf::actor_cast<map_keeper_actor>(st.keeper),
                 isr_change{static_cast<std::uint8_t>(engine::shard_kind::profile), st.index, r});
}

// As primary: asks for the followers that caught up to join the in-sync
// set, and for the in-sync followers that have lacked records for
// lag_timeout to leave it (until then writes wait for them). Returns
// whether an in-sync follower lacks records (the resend timer then keeps
// checking).
bool ask_isr_changes(self_ptr self) {
  auto& st = self->state;
  auto& rs = *st.replica;
  if (!rs.ready() || !st.keeper) {  // nobody to ask (a join counts the replica in sync)
    st.lagging_since.clear();
    return false;
  }
  for (const auto& r : rs.join_requests())
    ask_isr(self, r);
  const auto& log = rs.log();
  const auto now = self->clock().now();
  bool lagging = false;
  for (std::uint32_t n = 0; n < st.peers.size(); ++n) {
    auto leave = log.leave_request(n);
    if (!leave || log.match_of(n) >= log.last_seq()) {
      st.lagging_since.erase(n);
      continue;
    }
    lagging = true;
    auto [it, fresh] = st.lagging_since.emplace(n, now);
    if (!fresh && now - it->second >= st.lag_timeout)
      ask_isr(self, *leave);
  }
  return lagging;
}

}  // namespace

bool replica_serves(const profile_shard_state& st, std::string& why) {
  if (!st.replicated && !st.replica)
    return true;
  if (st.replica && st.replica->log().primary() && st.replica->log().applied() >= st.reads_from)
    return true;
  why = "profile shard " + std::to_string(st.index) + " does not serve reads here (" +
        (st.replica && st.replica->log().primary() ? "taking over: applying what it inherited"
                                                   : "not the primary") +
        "); retry";
  return false;
}

void replica_changed(self_ptr self) {
  auto& st = self->state;
  auto& rs = *st.replica;
  if (!rs.failed().empty()) {
    refuse_pending(self, delivery_failure::storage_failed, rs.failed());
    return;
  }
  if (!rs.log().primary() && !st.log_pending.empty())
    refuse_pending(self, delivery_failure::shard_unavailable,
                   "profile shard " + std::to_string(st.index) +
                     " is no longer the primary (map epoch " +
                     std::to_string(rs.log().map_epoch()) + "); retry");
  if (!st.snapshotting) {
    for (auto& [seq, e] : rs.take_applicable()) {
      const auto& q = st.log_pending;
      if (!q.empty() && q.front().kind != profile_shard_state::pending::flush &&
          q.front().seq == seq)
        apply_logged(self, seq, "");
      else
        apply_replicated(self, seq, e);
    }
  }
  st.seq = rs.log().last_seq();  // the next write's seq (a replaced tail may lower it)
  // Whether a follower may lack something it was sent: its records (not
  // all confirmed durable yet), or a ship sent now (lost with its answer?).
  bool behind = false;
  for (auto& [to, s] : rs.ships()) {
    auto p = peer(st, to);
    if (!p)
      continue;  // unreachable: shipped once a configuration names it
    behind = behind || rs.log().match_of(to) < rs.log().last_seq();
    // Pipelining: the records sent to it since the last resend or refusal
    // are not sent again (the engine ships from what the follower last
    // confirmed; on one connection the earlier ships arrive first, and a
    // lost one shows as a refusal or is covered by the resend timer).
    if (s.snapshot_seq == 0) {
      const auto upto = st.shipped_upto[to];
      if (upto > s.prev_seq) {
        const auto drop = std::min<std::uint64_t>(upto - s.prev_seq, s.records.size());
        s.records.erase(s.records.begin(), s.records.begin() + static_cast<std::ptrdiff_t>(drop));
        s.prev_seq += drop;
        s.prev_epoch = rs.log().epoch_at(s.prev_seq);
      }
    }
    const std::array<std::uint64_t, 4> key{s.prev_seq, s.records.size(), s.committed,
                                           s.snapshot_seq};
    auto& last = st.last_ship[to];
    if (last == key)
      continue;  // sent already (the resend timer covers a loss)
    last = key;
    if (!s.records.empty())
      st.shipped_upto[to] = s.records.back().seq;
    behind = behind || !st.resending;
    self->send(p, replica_ship{st.index, std::move(s)});
  }
  // An in-sync follower that lacks records (even an unreachable one) keeps
  // the timer going: the lag timeout is checked at each tick.
  behind = ask_isr_changes(self) || behind;
  // A ship or its answer may be lost (a connection that broke): while a
  // follower may lack records, ship everything again after a while.
  if (behind && !st.resend_armed && st.resend_interval.count() > 0) {
    st.resend_armed = true;
    caf::delayed_anon_send(caf::actor_cast<profile_shard_actor>(self), st.resend_interval,
                           replica_atom::value);
  }
}

void on_replica_resend(self_ptr self) {
  auto& st = self->state;
  st.resend_armed = false;
  if (!st.replica)
    return;
  st.last_ship.clear();
  st.shipped_upto.clear();
  st.isr_asked.clear();  // pending requests are asked again (one may be lost)
  st.resending = true;  // what it sends now arms no new resend by itself
  replica_changed(self);
  st.resending = false;
}

void on_replica_config(self_ptr self, replica_config& c) {
  auto& st = self->state;
  if (!st.replica) {
    if (!st.wal) {
      spdlog::error("profile shard {}: a replica needs a write-ahead log (start the node with "
                    "a data directory); the replica configuration is ignored", st.index);
      return;
    }
    if (st.seq != 0 && !st.restored) {
      spdlog::error("profile shard {}: it holds {} records of its own; turning a shard with "
                    "data into a replica is not supported (start it with an empty data "
                    "directory); the replica configuration is ignored", st.index, st.seq);
      return;
    }
    auto me = caf::actor_cast<profile_shard_actor>(self);
    st.replica = std::make_unique<storage::replica_stream>(
      c.node, st.index, *st.wal,
      [me, sink = st.notices](std::uint64_t n, const std::string& err) {
        if (sink)
          sink(me, n, err);
        else
          caf::anon_send(me, replica_atom::value, n, err);
      });
    if (st.restored) {
      const auto& p = *st.restored;
      spdlog::info("profile shard {}: replica restored from its log: {} records after seq {}, "
                   "{} known committed and applied, the rest wait for a primary's commit",
                   st.index, p.records.size(), p.base, p.commit_known);
      st.replica->restore(std::move(*st.restored));
      st.restored.reset();
    }
  }
  if (c.epoch < st.replica->log().map_epoch()) {
    spdlog::debug("profile shard {}: replica configuration of epoch {} after epoch {}; ignored",
                  st.index, c.epoch, st.replica->log().map_epoch());
    return;
  }
  st.peers = std::move(c.peers);
  st.keeper = std::move(c.keeper);
  st.last_ship.clear();  // a new map or new handles: tell every follower again
  st.shipped_upto.clear();
  const bool was_primary = st.replica->log().primary();
  st.replica->adopt(c.epoch, c.map);
  if (!was_primary && st.replica->log().primary())
    st.reads_from = st.replica->log().last_seq();
  replica_changed(self);
}

void on_replica_ship(self_ptr self, replica_ship& m) {
  auto& st = self->state;
  if (!st.replica || m.shard != st.index) {
    spdlog::warn("profile shard {}: a ship for shard {} from node {} (epoch {}) arrived but "
                 "this shard is {}; dropped", st.index, m.shard, m.ship.from, m.ship.epoch,
                 st.replica ? "another" : "not a replica");
    return;
  }
  engine::ship_answer a;
  try {
    a = st.replica->on_ship(m.ship);
  } catch (const storage::corrupt& e) {
    ++st.bad_ships;
    spdlog::warn("profile shard {}: a ship from node {} (epoch {}, after seq {}) holds a record "
                 "that does not decode ({}); dropped (count: {})",
                 st.index, m.ship.from, m.ship.epoch, m.ship.prev_seq, e.what(), st.bad_ships);
    return;
  }
  // To the ship's sender (a deposed primary learns the newer epoch even
  // when no configuration names it any more), else to the replica it names.
  if (auto sender = caf::actor_cast<profile_shard_actor>(self->current_sender()))
    self->send(sender, replica_answer{st.index, a});
  else
    send_answer(self, a, m.ship.from);
  replica_changed(self);
}

void on_replica_answer(self_ptr self, const replica_answer& m) {
  auto& st = self->state;
  if (!st.replica || m.shard != st.index)
    return;
  if (!m.answer.ok)
    st.shipped_upto.erase(m.answer.from);  // it lacks something: ship from where it says
  st.replica->on_answer(m.answer);
  replica_changed(self);
}

void on_replica_notice(self_ptr self, std::uint64_t written, const std::string& error) {
  auto& st = self->state;
  if (!st.replica)
    return;
  if (auto a = st.replica->on_durable(written, error))
    if (auto leader = st.replica->log().leader())
      send_answer(self, *a, *leader);
  replica_changed(self);
}

}  // namespace rtrec
