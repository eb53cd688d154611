// One shard's log as each of its replicas keeps it (docs/replication.md,
// "The log of a shard's replicas"): the primary appends writes and ships
// them, followers accept them only where their log agrees with the
// primary's (log matching) and answer how far they hold them durably, and
// the primary acknowledges a write once every in-sync replica of the map it
// holds has it. Epochs fence: a replica acts as primary only while its map
// names it and no higher epoch has reached it, and a restarted replica only
// in a map of an epoch it never saw before its restart.
//
// Plain C++17 state machine: no CAF, no I/O, no clock. The caller carries
// the messages, makes records durable (sync) and asks the controller for the
// in-sync changes; tests/engine/replica_log_test.cpp runs several replicas
// through a seeded simulation with crashes, false suspicions, lost,
// repeated and reordered messages.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/cluster_map.hpp"

namespace rtrec::engine {

/// One record of a shard's log.
struct replica_record {
  std::uint64_t seq = 0;
  std::uint64_t epoch = 0;  ///< the epoch of the primary that appended it
  /// The write's id: a retry is not appended twice. 0 = none (the carrier
  /// dedups in its applied state instead; no id is kept).
  std::uint64_t id = 0;
  std::string payload;
};

/// What a replica keeps across a crash (restored by replica_log::restore):
/// its log's durable records and what it persisted beside them.
struct replica_persisted {
  std::uint64_t base = 0;        ///< released up to here (its checkpoint's seq)
  std::uint64_t base_epoch = 0;  ///< the epoch of record base
  std::map<std::uint64_t, std::uint64_t> released_ids;  ///< write ids up to base
  std::vector<replica_record> records;  ///< the durable records after base, gap-free
  std::uint64_t epoch_seen = 0;
  std::uint64_t commit_known = 0;  ///< capped at the last record on restore
  /// Applied up to here: a restart rebuilds its state up to commit_known,
  /// so a carrier restoring from disk passes min(commit_known, last seq).
  std::uint64_t applied = 0;
};

/// Primary -> follower: the records after prev_seq (none: where is it?).
struct ship_request {
  std::uint64_t epoch = 0;  ///< the primary's map epoch
  std::uint32_t from = 0;   ///< the primary
  std::uint64_t prev_seq = 0;
  std::uint64_t prev_epoch = 0;  ///< the epoch of the primary's record prev_seq
  std::vector<replica_record> records;
  /// The primary's committed(): the follower may apply its records up to
  /// here once they agree with the primary's and are durable.
  std::uint64_t committed = 0;
  /// Nonzero: the primary no longer holds the records the follower needs
  /// (released after its checkpoint), so it sends its checkpoint instead:
  /// the state after record snapshot_seq (= prev_seq, whose epoch is
  /// prev_epoch), then the records after it. The carrier attaches the checkpoint of
  /// the shard's state at that seq; `ids` are the write ids it covers (for
  /// dedup: write id -> seq).
  std::uint64_t snapshot_seq = 0;
  std::map<std::uint64_t, std::uint64_t> ids;
};

/// Follower -> primary.
struct ship_answer {
  std::uint64_t epoch = 0;  ///< the highest epoch the follower has seen
  std::uint32_t from = 0;   ///< the follower
  bool stale = false;       ///< refused: the ship's epoch is below `epoch`
  bool ok = false;          ///< accepted; false and not stale: back up to `last`
  /// It replaced its state by the ship's checkpoint (the carrier loads it).
  bool installed = false;
  std::uint64_t match = 0;     ///< durable here and agreeing with the primary up to this seq
  std::uint64_t verified = 0;  ///< agreeing with the primary up to this seq (durable or not)
  std::uint64_t last = 0;      ///< refused for a mismatch: resend from last + 1
};

/// Primary -> controller: replica `replica` joins (caught up) or leaves (fell
/// behind) the in-sync set. The controller applies it only while its map is
/// at `epoch` and names `from` primary.
struct isr_request {
  std::uint64_t epoch = 0;
  std::uint32_t from = 0;
  std::uint32_t replica = 0;
  bool join = false;
};

class replica_log {
 public:
  explicit replica_log(std::uint32_t self) : self_(self) {}

  // -- what survives a crash: the records up to synced(), epoch_seen() ------

  /// The records after base(), in seq order (records()[k] has seq base() + k + 1).
  const std::vector<replica_record>& records() const noexcept { return records_; }
  /// The record `seq`, or null when it is released (<= base()) or past the end.
  const replica_record* record_at(std::uint64_t seq) const noexcept;
  std::uint64_t last_seq() const noexcept { return base_ + records_.size(); }
  /// The records up to here are released: the shard's checkpoint holds
  /// their effect (and their write ids); all of them were applied.
  std::uint64_t base() const noexcept { return base_; }
  std::uint64_t synced() const noexcept { return synced_; }
  std::uint64_t epoch_seen() const noexcept { return epoch_seen_; }
  /// The epoch of record `seq` (that of base() for base(); 0 for seq 0, a
  /// released seq below base() or past the end).
  std::uint64_t epoch_at(std::uint64_t seq) const noexcept;
  /// The seq of the record with `id`, 0 when none.
  std::uint64_t seq_of(std::uint64_t id) const;

  // -- the map ---------------------------------------------------------------

  /// Takes the shard's entry of a chosen map of `epoch` (ignored unless
  /// newer than the map held).
  void adopt(std::uint64_t epoch, const shard_replicas& shard);
  std::uint64_t map_epoch() const noexcept { return map_epoch_; }
  /// Whether this replica acts as primary now.
  bool primary() const noexcept;

  // -- primary ---------------------------------------------------------------

  /// Appends a write; returns its seq (the existing record's for an id
  /// already in the log), nullopt when not primary.
  std::optional<std::uint64_t> append(std::uint64_t id, std::string payload);
  /// Ships to every other replica of the map: the records after what it is
  /// known to agree on, at most `max_records` each (none when not primary).
  std::vector<std::pair<std::uint32_t, ship_request>> ships(std::size_t max_records = 64) const;
  void on_answer(const ship_answer& a);
  /// The highest seq every in-sync replica holds durably (0 when not
  /// primary): writes up to it may be acknowledged.
  std::uint64_t committed() const;
  /// Joins for the replicas outside the in-sync set that answered under the
  /// current map and durably
  /// hold every record that may have been acknowledged (must_hold()): counted in sync
  /// from now until a newer map arrives, so every record acknowledged later
  /// is on them too. A pending join is asked again (a request may be lost).
  std::vector<isr_request> join_requests();
  /// A leave for in-sync follower `r` (nullopt when not primary or `r` is
  /// not an in-sync follower). It keeps counting until a map without it.
  std::optional<isr_request> leave_request(std::uint32_t r) const;
  /// What the primary knows follower `r` agrees on durably.
  std::uint64_t match_of(std::uint32_t r) const;
  /// The seq up to which a replica joining the in-sync set must hold the
  /// log: every record appended before this replica's own appends began
  /// (an earlier primary may have acknowledged them), and of its own, up to
  /// the highest it ever took as committed.
  std::uint64_t must_hold() const;

  // -- follower --------------------------------------------------------------

  ship_answer on_ship(const ship_request& s);
  /// After a sync: the answer for the primary of the last accepted ship
  /// (its `from`), when there is one to tell.
  std::optional<ship_answer> after_sync() const;
  /// The primary of the last accepted ship.
  std::optional<std::uint32_t> leader() const { return leader_; }

  // -- durability ------------------------------------------------------------

  /// Every record is durable.
  void sync() noexcept { sync(last_seq()); }
  /// The records up to `upto` (as the log holds them now) are durable.
  void sync(std::uint64_t upto) noexcept;
  /// A crash: the records after synced() are lost, and everything that is
  /// not persisted (the map, what it knew of the others). The same as
  /// restore(persisted()).
  void crash();
  /// What survives a crash now.
  replica_persisted persisted() const;
  /// Starts again from `p` (a restart): a primary again only in a map of an
  /// epoch above p.epoch_seen (raised to its records' highest epoch).
  void restore(replica_persisted p);
  /// The lowest `keep` of the tail replacements since the last call (a ship
  /// replaced records after keep, or a checkpoint install dropped them):
  /// the carrier voids its stored records of this stream after keep before
  /// it stores the new ones (storage::truncate_marker). nullopt: none.
  std::optional<std::uint64_t> take_replaced() noexcept;

  // -- applying: the shard's state (profiles, dedup window) -------------------
  //
  // A replica applies a record only once it is committed (every in-sync
  // replica holds it, so no later primary lacks it and log matching never
  // replaces it) and durable here: an applied record cannot be taken back
  // out of a profile store, while a record durable but not committed can
  // still be replaced after a failover.

  /// The highest seq known committed here (persisted with the records, and
  /// never above synced() after a crash): as primary, its own committed();
  /// as follower, the committed seq of a primary's ship, up to where its
  /// log agrees with that primary's. Only ever grows.
  std::uint64_t commit_known() const noexcept { return commit_known_; }
  /// Records up to here have been applied (persisted: the state a restart
  /// recovers).
  std::uint64_t applied() const noexcept { return applied_; }
  /// The records the caller may apply now, (from, to] with from = applied():
  /// committed and durable. Marks them applied.
  std::pair<std::uint64_t, std::uint64_t> take_applicable();

  // -- releasing the log after a checkpoint ------------------------------------

  /// The caller checkpointed its state at seq `upto` (<= applied()): the
  /// records up to there are dropped (their write ids are kept for dedup).
  /// A follower that needs them later gets the checkpoint instead
  /// (ship_request::snapshot_seq). Ignored unless base() < upto <= applied().
  void release(std::uint64_t upto);

 private:
  void truncate(std::uint64_t keep);
  /// Replaces its state by the checkpoint `s` carries.
  void install(const ship_request& s);
  /// Forgets what it knew of the others as a primary: its log changed
  /// other than by its own appends; records from `own_from` on are its own.
  void forget(std::uint64_t own_from);
  bool counts(std::uint32_t r) const;
  void note_replaced(std::uint64_t keep) noexcept;
  /// ids_ from released_ids_ and the records.
  void rebuild_ids();

  std::uint32_t self_;
  // persisted
  std::vector<replica_record> records_;  ///< records_[k] has seq base_ + k + 1
  std::uint64_t base_ = 0;        ///< released up to here (in the checkpoint)
  std::uint64_t base_epoch_ = 0;  ///< the epoch of record base_
  std::map<std::uint64_t, std::uint64_t> released_ids_;  ///< write ids up to base_
  std::uint64_t synced_ = 0;
  std::uint64_t epoch_seen_ = 0;
  std::uint64_t restart_epoch_ = 0;  ///< epoch_seen at the last restart
  std::uint64_t commit_known_ = 0;
  std::uint64_t applied_ = 0;
  // volatile
  std::map<std::uint64_t, std::uint64_t> ids_;  ///< id -> seq
  std::uint64_t map_epoch_ = 0;
  shard_replicas map_;
  std::set<std::uint32_t> pending_;  ///< asked to join, counted in sync
  std::set<std::uint32_t> heard_;    ///< answered (ok) under the current map
  std::map<std::uint32_t, std::uint64_t> match_, next_;
  std::uint64_t own_from_ = 1;  ///< records from here on were appended by it
  mutable std::uint64_t high_committed_ = 0;  ///< the highest committed() it returned
  std::optional<std::uint32_t> leader_;
  std::uint64_t verified_ = 0;  ///< agrees with leader_'s log up to here
  std::uint64_t verified_epoch_ = 0;
  std::optional<std::uint64_t> replaced_;  ///< lowest keep since take_replaced()
};

}  // namespace rtrec::engine
