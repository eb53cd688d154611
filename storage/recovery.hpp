// Recovery on start and the snapshot payloads of the shards.
//
// A data directory holds:
//   IDENTITY      framed: the shard counts it was written with
//   NODE          framed, cluster nodes only: the node's index and the node count
//   wal/          log segments (storage/wal.hpp)
//   snapshots/    checkpoints (storage/snapshot.hpp), the newest two kept
//   write-back/   rtrec serve's delayed write-backs (storage/deferred_journal.hpp;
//                 not read by recovery)
//
// recover() loads the newest checkpoint that passes every check (falling back
// to the previous one with a warning), then replays the log records it does
// not cover through the same engine steps the actors run
// (engine::apply_idempotent, item_model::apply, ...), so the recovered state
// equals the state before the crash. Single-threaded plain C++: the actors
// are spawned afterwards with the result.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/config.hpp"
#include "engine/dedup_window.hpp"
#include "engine/item_model.hpp"
#include "engine/profile_store.hpp"
#include "engine/recent_users.hpp"
#include "engine/replica_log.hpp"
#include "storage/snapshot.hpp"
#include "storage/types.hpp"
#include "storage/wal.hpp"

namespace rtrec::storage {

struct recovery_options {
  std::string data_dir;
  corruption_policy policy = corruption_policy::strict;
  std::uint32_t profile_shards = 1;
  std::uint32_t item_shards = 1;
  engine::model_config model;
  /// Dedup window of each profile shard.
  std::size_t dedup_ids_per_shard = 0;
  std::int64_t dedup_age_ms = 0;
  /// A cluster node's directory: its index among `nodes` (checked against,
  /// or written to, the NODE file). nodes == 0: an embedded engine's, which
  /// must have no NODE file.
  std::uint32_t node = 0;
  std::uint32_t nodes = 0;
  /// Whether this node's item writer is the meta writer (it hosts item
  /// shard 0; always in an embedded engine): only then is the log's item
  /// metadata stream replayed (docs/replication.md, "Stage 1b").
  bool meta_writer = true;
};


/// Everything the actors start from.
struct recovered_state {
  std::vector<std::unique_ptr<engine::profile_store>> profiles;
  std::vector<std::unique_ptr<engine::dedup_window>> windows;
  std::vector<std::uint64_t> profile_seq;  ///< last log seq applied, per profile shard
  /// Per profile shard whose log stream is a replica's (its records carry
  /// map epochs, storage/replica_stream.hpp): the replica's log as the
  /// shard restores it. Only its records up to the stored commit were
  /// replayed (profile_seq); the rest wait for a primary's commit.
  std::vector<std::optional<engine::replica_persisted>> replicas;
  std::vector<std::unique_ptr<engine::item_model>> items;
  /// [item shard][stream]: the last delta seq applied per profile shard,
  /// then (entry profile_shards) the last item metadata operation applied.
  std::vector<std::vector<std::uint64_t>> item_applied;
  /// Per item shard, the recent users of its items, rebuilt from the
  /// recovered profiles (engine/recent_users.hpp: derived, not checkpointed).
  std::vector<std::unique_ptr<engine::recent_users>> item_users;
  std::uint64_t meta_seq = 0;  ///< the last item metadata record of this node's log
  std::uint64_t next_checkpoint_id = 1;
  std::vector<segment_info> segments;  ///< for the wal that continues the log
  recovery_report report;
};

/// Paths inside a data directory.
std::string wal_dir(const std::string& data_dir);
std::string snapshot_dir(const std::string& data_dir);

/// Recovers the state stored in opts.data_dir (creating an empty one if it
/// does not exist). Throws std::runtime_error, with what to do, when the
/// directory was written with other shard counts, when the log is corrupt
/// before its tail (policy strict), or when no usable checkpoint is left but
/// the log no longer starts at the beginning.
recovered_state recover(const recovery_options& opts);

/// A profile shard's snapshot payload: its last applied seq, dedup window and
/// profiles.
std::string encode_profile_snapshot(std::uint64_t seq, const engine::profile_store& store,
                                    const engine::dedup_window& window);
/// Restores what encode_profile_snapshot wrote into `store` and `window`.
/// Returns the seq. Throws std::runtime_error on a malformed payload.
std::uint64_t decode_profile_snapshot(std::string_view bytes, engine::profile_store& store,
                                      engine::dedup_window& window);

/// An item shard's snapshot payload: the last delta seq applied per profile
/// shard, and its model.
std::string encode_item_snapshot(const std::vector<std::uint64_t>& applied,
                                 const engine::item_model& model);
/// Restores what encode_item_snapshot wrote. Throws std::runtime_error.
std::vector<std::uint64_t> decode_item_snapshot(std::string_view bytes, engine::item_model& model);

}  // namespace rtrec::storage
